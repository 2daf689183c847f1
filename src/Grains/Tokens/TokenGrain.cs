using Dispatcher.Grains.Abstractions;
using Dispatcher.Grains.Abstractions.Configuration;
using Dispatcher.Grains.Abstractions.Leases;
using Dispatcher.Grains.Abstractions.Models;
using Dispatcher.Grains.Abstractions.Tokens;
using Dispatcher.Grains.Telemetry;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;

namespace Dispatcher.Grains.Tokens;

/// <summary>
/// Caches one token's policy and counts its requests across every model and silo (one activation in the cluster). A
/// known token is looked up again after <c>CacheTtl</c> (or at once when the store announces a change); an unknown one
/// after <c>UnknownCacheTtl</c>. When the store cannot be reached, a token seen before keeps its cached policy and an
/// unseen one is answered <see cref="TokenLookup.StoreUnavailable"/> (503, never 401). Waiting requests are kept by
/// request id and in-flight ones by lease id, so a request submitted again or a lease adopted after a failover is
/// never counted twice. Counts that died with a model grain's activation (its silo was killed) are dropped: a wait
/// older than the longest queue timeout cannot still be waiting, and every <see cref="LeaseCheckPeriod"/> the grain
/// asks each model which of its leases it still holds. The token's in-flight limit is kept here for the whole cluster:
/// a waiting request takes a slot before its model grain grants it (<see cref="TryTakeSlotAsync"/>), the slot becomes
/// its lease, and a model refused a slot is told when one frees. Stays active while any of its requests waits or runs
/// (<see cref="Grain.DelayDeactivation"/>), so the counters are not lost to idle collection. Reentrant: every method
/// but the store lookup (shared, <see cref="GetPolicyAsync"/>) changes its counts in one synchronous stretch, and a
/// non-reentrant grain's queue costs Orleans a look through every queued call per call taken: a burst of 100,000
/// requests of one token queued 659,174 admissions there, which passed the 30 s response timeout and were sent again.
/// </summary>
[Reentrant]
internal sealed class TokenGrain(ITokenStore store, IOptions<DispatcherOptions> options, GrainsMetrics metrics, TimeProvider time)
    : Grain, ITokenGrain
{
    /// <summary>How often in-flight leases are checked against their model grains.</summary>
    public static readonly TimeSpan LeaseCheckPeriod = TimeSpan.FromSeconds(10);

    private static readonly TimeSpan CheckTimeout = TimeSpan.FromSeconds(5);

    /// <summary>How often waits are looked through for stale ones (see <see cref="DropStaleWaits"/>).</summary>
    private static readonly TimeSpan StaleSweepPeriod = TimeSpan.FromSeconds(1);

    private readonly TokenStoreOptions _cache = options.Value.TokenStore;
    private readonly TimeSpan _longestWait = options.Value.Models.Select(m => m.QueueTimeout ?? options.Value.QueueTimeout)
        .Append(options.Value.QueueTimeout).Max() + TimeSpan.FromMinutes(1);
    private readonly Dictionary<string, Wait> _waiting = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _inFlight = new(StringComparer.Ordinal);
    private readonly HashSet<string> _modelsWaitingForSlot = new(StringComparer.Ordinal);
    private int _slotsTakenByWaits;
    private TokenLookup? _lookup;
    private DateTimeOffset _fetchedAt;

    /// <summary>The store lookup on its way, shared by every call that needs it meanwhile.</summary>
    private Task<TokenLookup>? _fetching;

    /// <summary>Counts invalidations: a lookup started before one is not cached.</summary>
    private long _generation;
    private DateTimeOffset _nextStaleSweep;
    private long _completed;
    private long _completionTokens;

    public Task<TokenLookup> GetPolicyAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        if (_lookup is not null && now - _fetchedAt < (_lookup.Status == TokenLookupStatus.Found ? _cache.CacheTtl : _cache.UnknownCacheTtl))
        {
            metrics.TokenLookup("cached");
            return Task.FromResult(_lookup);
        }

        // One lookup in the store at a time: the calls that need it meanwhile (a burst of the token's requests) share it.
        if (_fetching is { } fetching)
        {
            return fetching;
        }

        var fetch = FetchAsync(_generation, now);
        if (!fetch.IsCompleted)
        {
            _fetching = fetch; // it clears itself when it ends
        }

        return fetch;
    }

    public Task InvalidateAsync(CancellationToken cancellationToken)
    {
        _lookup = null;
        _fetching = null; // a lookup on its way may have read the token before the change: it is not kept
        _generation++;
        return Task.CompletedTask;
    }

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        this.RegisterGrainTimer(CheckLeasesAsync, new GrainTimerCreationOptions(LeaseCheckPeriod, LeaseCheckPeriod));
        return Task.CompletedTask;
    }

    public async Task<WaitAdmission> TryEnterWaitingAsync(string requestId, CancellationToken cancellationToken)
    {
        var lookup = await GetPolicyAsync(cancellationToken);
        if (lookup.Policy is null)
        {
            return lookup.Status == TokenLookupStatus.StoreUnavailable ? WaitAdmission.StoreUnavailable : WaitAdmission.UnknownToken;
        }

        DropStaleWaits();
        if (_waiting.TryGetValue(requestId, out var known))
        {
            known.Since = time.GetUtcNow(); // submitted again (its model grain moved): counted once, a slot it took kept
            return WaitAdmission.Admitted;
        }

        if (_waiting.Count >= lookup.Policy.Threshold)
        {
            return WaitAdmission.OverThreshold;
        }

        _waiting[requestId] = new Wait(time.GetUtcNow());
        KeepWhileBusy();
        return WaitAdmission.Admitted;
    }

    public async Task<WaitAdmission> TryStartAsync(string model, string requestId, string leaseId, CancellationToken cancellationToken)
    {
        var admission = await TryEnterWaitingAsync(requestId, cancellationToken);
        if (admission == WaitAdmission.Admitted)
        {
            await LeaveWaitingAsync(model, requestId, leaseId, cancellationToken);
        }

        return admission;
    }

    public async Task<bool> TryTakeSlotAsync(string model, string requestId, CancellationToken cancellationToken)
    {
        var limit = (await GetPolicyAsync(cancellationToken)).Policy?.MaxInFlight;
        if (!_waiting.TryGetValue(requestId, out var wait))
        {
            // A wait this activation never saw (the previous one's silo died): counted from now. A request that left
            // meanwhile is given back by its model grain, which checks after this answer.
            _waiting[requestId] = wait = new Wait(time.GetUtcNow());
        }

        if (wait.HoldsSlot || limit is null)
        {
            KeepWhileBusy();
            return true;
        }

        if (_inFlight.Count + _slotsTakenByWaits >= limit)
        {
            _modelsWaitingForSlot.Add(model);
            KeepWhileBusy();
            return false;
        }

        wait.HoldsSlot = true;
        _slotsTakenByWaits++;
        KeepWhileBusy();
        return true;
    }

    public Task LeaveWaitingAsync(string model, string requestId, string? leaseId, CancellationToken cancellationToken)
    {
        if (_waiting.Remove(requestId, out var wait) && wait.HoldsSlot)
        {
            _slotsTakenByWaits--;
        }

        if (leaseId is not null)
        {
            _inFlight[leaseId] = model; // its slot, if it held one, is now the lease's
        }
        else if (wait is { HoldsSlot: true })
        {
            SlotFreed();
        }

        KeepWhileBusy();
        return Task.CompletedTask;
    }

    public Task AdoptInFlightAsync(string model, string leaseId, CancellationToken cancellationToken)
    {
        _inFlight[leaseId] = model;
        KeepWhileBusy();
        return Task.CompletedTask;
    }

    public Task ReleaseAsync(string leaseId, LeaseUsage? usage, CancellationToken cancellationToken)
    {
        if (_inFlight.Remove(leaseId, out _))
        {
            _completed++;
            _completionTokens += usage?.CompletionTokens ?? 0;
            SlotFreed();
        }

        KeepWhileBusy();
        return Task.CompletedTask;
    }

    public Task<TokenCounters> GetCountersAsync(CancellationToken cancellationToken)
    {
        DropStaleWaits();
        return Task.FromResult(new TokenCounters(_waiting.Count, _inFlight.Count, _completed, _completionTokens));
    }

    /// <summary>
    /// Reads the token from the store. Not cancelled with the call that started it: other calls may share it. Its answer
    /// is cached unless the token was invalidated meanwhile (<paramref name="generation"/> passed).
    /// </summary>
    private async Task<TokenLookup> FetchAsync(long generation, DateTimeOffset now)
    {
        TokenLookup fresh;
        try
        {
            fresh = await store.FindAsync(this.GetPrimaryKeyString(), CancellationToken.None);
        }
        finally
        {
            if (generation == _generation)
            {
                _fetching = null;
            }
        }

        if (fresh.Status == TokenLookupStatus.StoreUnavailable)
        {
            // A token that worked keeps working through an outage; one never seen cannot be vouched for.
            var stale = _lookup is { Status: TokenLookupStatus.Found };
            metrics.TokenLookup(stale ? "stale" : "unavailable");
            return stale ? _lookup! : fresh;
        }

        metrics.TokenLookup(fresh.Status == TokenLookupStatus.Found ? "found" : "unknown");
        if (generation == _generation)
        {
            _lookup = fresh;
            _fetchedAt = now;
        }

        return fresh;
    }

    /// <summary>
    /// A wait older than the longest queue timeout died with its model grain's activation. Looked for at most once per
    /// <see cref="StaleSweepPeriod"/>: every admission looking through all waits made a burst of one token quadratic
    /// (100,000 requests queued at this grain past Orleans' response timeout).
    /// </summary>
    private void DropStaleWaits()
    {
        var now = time.GetUtcNow();
        if (now < _nextStaleSweep)
        {
            return;
        }

        _nextStaleSweep = now + StaleSweepPeriod;
        var oldest = now - _longestWait;
        foreach (var (requestId, wait) in _waiting)
        {
            if (wait.Since < oldest)
            {
                _waiting.Remove(requestId);
                if (wait.HoldsSlot)
                {
                    _slotsTakenByWaits--;
                    SlotFreed();
                }
            }
        }
    }

    /// <summary>An in-flight slot freed: the models refused one since the last time are told (one-way calls).</summary>
    private void SlotFreed()
    {
        if (_modelsWaitingForSlot.Count == 0)
        {
            return;
        }

        var tokenId = this.GetPrimaryKeyString();
        foreach (var model in _modelsWaitingForSlot)
        {
            _ = GrainFactory.GetGrainByKey<IModelGrain>(model).OnTokenReleasedAsync(tokenId, CancellationToken.None);
        }

        _modelsWaitingForSlot.Clear();
    }

    /// <summary>Drops in-flight leases their model grain no longer holds (its activation that granted them is gone).</summary>
    private async Task CheckLeasesAsync(CancellationToken cancellationToken)
    {
        foreach (var byModel in _inFlight.GroupBy(l => l.Value, l => l.Key, StringComparer.Ordinal).ToList())
        {
            var asked = byModel.ToList();
            IReadOnlyList<string> held;
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                timeout.CancelAfter(CheckTimeout);
                held = await GrainFactory.GetGrainByKey<IModelGrain>(byModel.Key).FindLeasesAsync(asked, timeout.Token).WaitAsync(timeout.Token);
            }
            catch (Exception exception) when (exception is OperationCanceledException or OrleansException or TimeoutException)
            {
                continue; // the model's grain is moving; the next check will do
            }

            // Only leases asked about and still counted: one released meanwhile was already removed.
            foreach (var leaseId in asked.Except(held, StringComparer.Ordinal))
            {
                if (_inFlight.Remove(leaseId))
                {
                    SlotFreed();
                }
            }
        }

        KeepWhileBusy();
    }

    /// <summary>Holds the activation while it counts anything; lets idle collection have it once it counts nothing.</summary>
    private void KeepWhileBusy() =>
        DelayDeactivation(_waiting.Count > 0 || _inFlight.Count > 0 ? Timeout.InfiniteTimeSpan : TimeSpan.Zero);

    /// <summary>A waiting request: since when, and whether it holds one of the in-flight slots.</summary>
    private sealed class Wait(DateTimeOffset since)
    {
        public DateTimeOffset Since { get; set; } = since;

        public bool HoldsSlot { get; set; }
    }
}
