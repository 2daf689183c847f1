using System.Collections.Concurrent;
using System.Net;
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
}

/// <summary>
/// Counts failed authentications per client address in one-minute windows, each starting at the address's first
/// failure. Thread-safe.
/// </summary>
internal sealed class FailedAuthLimiter(IOptions<AuthOptions> options, TimeProvider time)
{
    private const int SweepAbove = 10_000;
    private static readonly TimeSpan Span = TimeSpan.FromMinutes(1);
    private readonly ConcurrentDictionary<IPAddress, Window> _windows = new();

    /// <summary>When the address is throttled, how long until it may try again.</summary>
    public TimeSpan? Blocked(IPAddress? address)
    {
        var limit = options.Value.MaxFailedAttemptsPerMinute;
        if (limit <= 0 || address is null || !_windows.TryGetValue(address, out var window) || window.Failures < limit)
        {
            return null;
        }

        var left = window.Start + Span - time.GetUtcNow();
        return left > TimeSpan.Zero ? left : null;
    }

    public void Failed(IPAddress? address)
    {
        if (options.Value.MaxFailedAttemptsPerMinute <= 0 || address is null)
        {
            return;
        }

        var now = time.GetUtcNow();
        _windows.AddOrUpdate(address, _ => new Window(now, 1), (_, w) => now - w.Start < Span ? w with { Failures = w.Failures + 1 } : new Window(now, 1));
        if (_windows.Count > SweepAbove)
        {
            foreach (var (key, window) in _windows)
            {
                if (now - window.Start >= Span)
                {
                    _windows.TryRemove(key, out _);
                }
            }
        }
    }

    private sealed record Window(DateTimeOffset Start, int Failures);
}
