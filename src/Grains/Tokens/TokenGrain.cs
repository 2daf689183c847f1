using Dispatcher.Grains.Abstractions.Leases;
using Dispatcher.Grains.Abstractions.Tokens;
using Dispatcher.Grains.Runtime;

namespace Dispatcher.Grains.Tokens;

/// <summary>
/// Caches one token's policy and counts its requests across every model. Stays active while any of its
/// requests waits or runs, so the counters are never lost to idle deactivation.
/// </summary>
internal sealed class TokenGrain(IGrainContext context, ITokenStore store) : Grain(context), ITokenGrain
{
    private TokenLookup? _lookup;
    private int _waiting;
    private int _inFlight;
    private long _completed;
    private long _completionTokens;

    public override bool CanDeactivate => _waiting == 0 && _inFlight == 0;

    public async Task<TokenLookup> GetPolicyAsync(CancellationToken cancellationToken)
    {
        if (_lookup is not null)
        {
            return _lookup;
        }

        var lookup = await store.FindAsync(Key, cancellationToken);
        if (lookup.Status != TokenLookupStatus.StoreUnavailable)
        {
            _lookup = lookup;
        }

        return lookup;
    }

    public async Task<bool> TryEnterWaitingAsync(CancellationToken cancellationToken)
    {
        var lookup = await GetPolicyAsync(cancellationToken);
        if (lookup.Policy is null || _waiting >= lookup.Policy.Threshold)
        {
            return false;
        }

        _waiting++;
        return true;
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
