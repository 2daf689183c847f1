using System.Collections.Concurrent;
using Dispatcher.Grains.Abstractions.Tokens;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Dispatcher.Silo.Client;

/// <summary>What the remote grain references of one Frontend share: connections, the directory, the leases held.</summary>
internal sealed class RemoteSiloClient(SiloConnection http, SiloDirectory directory, RemoteLeases leases, IOptions<RemoteSiloOptions> options, TimeProvider time, ILogger<RemoteSiloClient> logger)
{
    private const int PoliciesBeforePurge = 10_000;
    private readonly ConcurrentDictionary<string, ResubmitOrder> _orders = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, (TokenLookup Lookup, long Until)> _policies = new(StringComparer.Ordinal);

    public SiloConnection Http => http;

    public SiloDirectory Directory => directory;

    public RemoteLeases Leases => leases;

    public RemoteSiloOptions Options => options.Value;

    public TimeProvider Time => time;

    public ILogger Logger => logger;

    /// <summary>A found token's policy while it is younger than <see cref="RemoteSiloOptions.TokenCacheTtl"/>.</summary>
    public TokenLookup? CachedPolicy(string tokenId) =>
        _policies.TryGetValue(tokenId, out var entry) && time.GetTimestamp() < entry.Until ? entry.Lookup : null;

    /// <summary>Keeps a found token's policy for a while; unknown tokens are never kept (a new token works at once).</summary>
    public void CachePolicy(string tokenId, TokenLookup lookup)
    {
        var ttl = Options.TokenCacheTtl;
        if (lookup.Status != TokenLookupStatus.Found || ttl <= TimeSpan.Zero)
        {
            _policies.TryRemove(tokenId, out _);
            return;
        }

        var now = time.GetTimestamp();
        if (_policies.Count >= PoliciesBeforePurge)
        {
            foreach (var (key, entry) in _policies)
            {
                if (entry.Until <= now)
                {
                    _policies.TryRemove(key, out _);
                }
            }
        }

        _policies[tokenId] = (lookup, now + (long)(ttl.TotalSeconds * time.TimestampFrequency));
    }

    /// <summary>The order in which this Frontend's requests for <paramref name="model"/> arrived.</summary>
    public ResubmitOrder OrderOf(string model) => _orders.GetOrAdd(model, _ => new ResubmitOrder(time));
}
