using Dispatcher.Grains.Abstractions.Configuration;
using Dispatcher.Grains.Abstractions.Leases;
using Dispatcher.Grains.Abstractions.Tokens;
using Dispatcher.Grains.Runtime;
using Dispatcher.Grains.Telemetry;
using Microsoft.Extensions.Options;

namespace Dispatcher.Grains.Tokens;

/// <summary>
/// Caches one token's policy and counts its requests across every model. A known token is looked up again
/// after <c>CacheTtl</c> (or at once when the store announces a change); an unknown one after
/// <c>UnknownCacheTtl</c>. When the store cannot be reached, a token seen before keeps its cached policy and an
/// unseen one is answered <see cref="TokenLookup.StoreUnavailable"/> (503, never 401). Stays active while any of
/// its requests waits or runs, so the counters are never lost to idle deactivation.
/// </summary>
internal sealed class TokenGrain(IGrainContext context, ITokenStore store, IOptions<DispatcherOptions> options, GrainsMetrics metrics, TimeProvider time)
    : Grain(context), ITokenGrain
{
    private readonly TokenStoreOptions _cache = options.Value.TokenStore;
    private TokenLookup? _lookup;
    private DateTimeOffset _fetchedAt;
    private int _waiting;
    private int _inFlight;
    private long _completed;
    private long _completionTokens;

    public override bool CanDeactivate => _waiting == 0 && _inFlight == 0;

    public async Task<TokenLookup> GetPolicyAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        if (_lookup is not null && now - _fetchedAt < (_lookup.Status == TokenLookupStatus.Found ? _cache.CacheTtl : _cache.UnknownCacheTtl))
        {
            metrics.TokenLookup("cached");
            return _lookup;
        }

        var fresh = await store.FindAsync(Key, cancellationToken);
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
        return WaitAdmission.Admitted;
    }

    public Task LeaveWaitingAsync(bool granted, CancellationToken cancellationToken)
    {
        if (_waiting > 0)
        {
            _waiting--;
            if (granted)
            {
                _inFlight++;
            }
        }

        return Task.CompletedTask;
    }

    public Task AdoptInFlightAsync(CancellationToken cancellationToken)
    {
        _inFlight++;
        return Task.CompletedTask;
    }

    public Task ReleaseAsync(LeaseUsage? usage, CancellationToken cancellationToken)
    {
        if (_inFlight > 0)
        {
            _inFlight--;
            _completed++;
            _completionTokens += usage?.CompletionTokens ?? 0;
        }

        return Task.CompletedTask;
    }

    public Task<TokenCounters> GetCountersAsync(CancellationToken cancellationToken) =>
        Task.FromResult(new TokenCounters(_waiting, _inFlight, _completed, _completionTokens));
}
