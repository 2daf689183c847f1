using Dispatcher.Grains.Abstractions.Configuration;
using Dispatcher.Grains.Abstractions.Leases;
using Dispatcher.Grains.Abstractions.Tokens;
using Dispatcher.Grains.Telemetry;
using Microsoft.Extensions.Options;

namespace Dispatcher.Grains.Tokens;

/// <summary>
/// Caches one token's policy and counts its requests across every model and silo (one activation in the cluster). A
/// known token is looked up again after <c>CacheTtl</c> (or at once when the store announces a change); an unknown one
/// after <c>UnknownCacheTtl</c>. When the store cannot be reached, a token seen before keeps its cached policy and an
/// unseen one is answered <see cref="TokenLookup.StoreUnavailable"/> (503, never 401). In-flight requests are kept by
/// lease id, so an adopted lease is never counted twice. Stays active while any of its requests waits or runs
/// (<see cref="Grain.DelayDeactivation"/>), so the counters are not lost to idle collection.
/// </summary>
internal sealed class TokenGrain(ITokenStore store, IOptions<DispatcherOptions> options, GrainsMetrics metrics, TimeProvider time)
    : Grain, ITokenGrain
{
    private readonly TokenStoreOptions _cache = options.Value.TokenStore;
    private readonly HashSet<string> _inFlight = new(StringComparer.Ordinal);
    private TokenLookup? _lookup;
    private DateTimeOffset _fetchedAt;
    private int _waiting;
    private long _completed;
    private long _completionTokens;

    public async Task<TokenLookup> GetPolicyAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        if (_lookup is not null && now - _fetchedAt < (_lookup.Status == TokenLookupStatus.Found ? _cache.CacheTtl : _cache.UnknownCacheTtl))
        {
            metrics.TokenLookup("cached");
            return _lookup;
        }

        var fresh = await store.FindAsync(this.GetPrimaryKeyString(), cancellationToken);
        if (fresh.Status == TokenLookupStatus.StoreUnavailable)
        {
            // A token that worked keeps working through an outage; one never seen cannot be vouched for.
            var stale = _lookup is { Status: TokenLookupStatus.Found };
            metrics.TokenLookup(stale ? "stale" : "unavailable");
            return stale ? _lookup! : fresh;
        }

        metrics.TokenLookup(fresh.Status == TokenLookupStatus.Found ? "found" : "unknown");
        _lookup = fresh;
        _fetchedAt = now;
        return fresh;
    }

    public Task InvalidateAsync(CancellationToken cancellationToken)
    {
        _lookup = null;
        return Task.CompletedTask;
    }

    public async Task<WaitAdmission> TryEnterWaitingAsync(CancellationToken cancellationToken)
    {
        var lookup = await GetPolicyAsync(cancellationToken);
        if (lookup.Policy is null)
        {
            return lookup.Status == TokenLookupStatus.StoreUnavailable ? WaitAdmission.StoreUnavailable : WaitAdmission.UnknownToken;
        }

        if (_waiting >= lookup.Policy.Threshold)
        {
            return WaitAdmission.OverThreshold;
        }

        _waiting++;
        KeepWhileBusy();
        return WaitAdmission.Admitted;
    }

    public Task LeaveWaitingAsync(string? leaseId, CancellationToken cancellationToken)
    {
        if (_waiting > 0)
        {
            _waiting--;
            if (leaseId is not null)
            {
                _inFlight.Add(leaseId);
            }
        }

        KeepWhileBusy();
        return Task.CompletedTask;
    }

    public Task AdoptInFlightAsync(string leaseId, CancellationToken cancellationToken)
    {
        _inFlight.Add(leaseId);
        KeepWhileBusy();
        return Task.CompletedTask;
    }

    public Task ReleaseAsync(string leaseId, LeaseUsage? usage, CancellationToken cancellationToken)
    {
        if (_inFlight.Remove(leaseId))
        {
            _completed++;
            _completionTokens += usage?.CompletionTokens ?? 0;
        }

        KeepWhileBusy();
        return Task.CompletedTask;
    }

    public Task<TokenCounters> GetCountersAsync(CancellationToken cancellationToken) =>
        Task.FromResult(new TokenCounters(_waiting, _inFlight.Count, _completed, _completionTokens));

    /// <summary>Holds the activation while it counts anything; lets idle collection have it once it counts nothing.</summary>
    private void KeepWhileBusy() =>
        DelayDeactivation(_waiting > 0 || _inFlight.Count > 0 ? Timeout.InfiniteTimeSpan : TimeSpan.Zero);
}
