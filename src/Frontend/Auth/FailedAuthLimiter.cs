using System.Net;
using System.Net.Sockets;
using System.Threading.RateLimiting;
using Microsoft.Extensions.Options;

namespace Dispatcher.Frontend.Auth;

/// <summary>The <c>Dispatcher:Auth</c> section.</summary>
public sealed class AuthOptions
{
    /// <summary>The configuration section name.</summary>
    public const string SectionName = "Dispatcher:Auth";

    /// <summary>
    /// Failed authentications one client address may make per minute; past that, every request from it gets 429
    /// until the minute is over (guessing tokens costs the guesser, not the dispatcher). 0 turns it off. Default 30.
    /// </summary>
    public int MaxFailedAttemptsPerMinute { get; set; } = 30;

    /// <summary>
    /// How long a Frontend reuses a token's policy after asking its grain (<see cref="TokenPolicyCache"/>). A revoked or
    /// changed token is seen by the model grains at once (they ask the token's grain at admission) and by this Frontend's
    /// authentication within this time. Zero asks the grain on every request. Default 1 s.
    /// </summary>
    public TimeSpan PolicyCacheDuration { get; set; } = TimeSpan.FromSeconds(1);
}

/// <summary>
/// Counts failed authentications per client in one-minute fixed windows, with
/// System.Threading.RateLimiting's <see cref="PartitionedRateLimiter"/>: O(1) per request, and a client's counter is
/// dropped once its window has passed without failures (the limiter's idle cleanup), so memory is bounded by the
/// clients that failed within the last minute. IPv6 clients count by their /64 (one host usually holds a whole /64).
/// Thread-safe.
/// </summary>
internal sealed class FailedAuthLimiter : IDisposable
{
    private static readonly TimeSpan Window = TimeSpan.FromMinutes(1);
    private readonly PartitionedRateLimiter<IPAddress>? _limiter;

    public FailedAuthLimiter(IOptions<AuthOptions> options)
    {
        var limit = options.Value.MaxFailedAttemptsPerMinute;
        if (limit > 0)
        {
            _limiter = PartitionedRateLimiter.Create<IPAddress, IPAddress>(address => RateLimitPartition.GetFixedWindowLimiter(
                ClientOf(address), _ => new FixedWindowRateLimiterOptions { PermitLimit = limit, Window = Window, QueueLimit = 0 }));
        }
    }

    /// <summary>When the client is throttled, how long until it may try again.</summary>
    public TimeSpan? Blocked(IPAddress? address)
    {
        if (_limiter is null || address is null)
        {
            return null;
        }

        using var lease = _limiter.AttemptAcquire(address, 0); // asks whether a failure is still allowed, takes none
        return lease.IsAcquired ? null : lease.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter) ? retryAfter : Window;
    }

    public void Failed(IPAddress? address)
    {
        if (_limiter is not null && address is not null)
        {
            _limiter.AttemptAcquire(address).Dispose();
        }
    }

    public void Dispose() => _limiter?.Dispose();

    /// <summary>Who is counted: an IPv4 address (also when mapped to IPv6), or an IPv6 address's /64 prefix.</summary>
    internal static IPAddress ClientOf(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            return address.MapToIPv4();
        }

        if (address.AddressFamily != AddressFamily.InterNetworkV6)
        {
            return address;
        }

        Span<byte> bytes = stackalloc byte[16];
        address.TryWriteBytes(bytes, out _);
        bytes[8..].Clear();
        return new IPAddress(bytes);
    }
}
