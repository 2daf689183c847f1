using Dispatcher.Grains.Abstractions.Backends;
using Dispatcher.Grains.Abstractions.Configuration;
using Dispatcher.Grains.Abstractions.Leases;
using Dispatcher.Grains.Abstractions.Models;
using Dispatcher.Grains.Abstractions.Tokens;
using Dispatcher.Grains.Capacity;
using Dispatcher.Grains.Runtime;
using Dispatcher.Grains.Scheduling;
using Dispatcher.Grains.Telemetry;
using Dispatcher.Grains.Tokens;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Dispatcher.Grains.Models;

/// <summary>
/// One served model: its wait list, its replicas as seen through their backend grains, and its leases.
/// Grants happen synchronously inside a turn (<see cref="GrantWhilePossible"/>) whenever something changes:
/// a request arrives, a lease is released, or a replica's snapshot changes.
/// </summary>
internal sealed partial class ModelGrain : Grain, IModelGrain
{
    private readonly DispatcherOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<ModelGrain> _logger;
    private readonly InFlightLedger _ledger;
    private readonly GrainsMetrics _metrics;
    private readonly WaitList _waitList;
    private readonly PriorityQueue<Waiter, DateTimeOffset> _byDeadline = new();
    private readonly Dictionary<string, ActiveLease> _leases = new(StringComparer.Ordinal);
    private readonly List<BackendSlot> _backends = [];
    private TimeSpan _queueTimeout;
    private AdmissionPolicy _admission = null!;
    private IGrainTimer? _timeoutTimer;
    private DateTimeOffset? _timeoutTimerDue;
    private IGrainTimer? _expiryTimer;
    private long _sequence;
    private int _rotation;

    public ModelGrain(IGrainContext context, IOptions<DispatcherOptions> options, InFlightLedger ledger, GrainsMetrics metrics, TimeProvider time, ILogger<ModelGrain> logger)
        : base(context)
    {
        _options = options.Value;
        _ledger = ledger;
        _metrics = metrics;
        _time = time;
        _logger = logger;
        _waitList = new WaitList(ServiceOrder.Create(_options.Scheduling, time));
    }

    public override bool CanDeactivate => _waitList.Count == 0 && _leases.Count == 0;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        var model = _options.FindModel(Key);
        _queueTimeout = model?.QueueTimeout ?? _options.QueueTimeout;
        _admission = new AdmissionPolicy(_options.Capacity, model?.MinTokensPerSecond ?? _options.Capacity.MinTokensPerSecond);
        foreach (var backend in model?.Backends ?? [])
        {
            if (BackendAddress.TryNormalize(backend) is { } address)
            {
                var grain = Context.GrainFactory.GetGrain<IBackendGrain>(BackendAddress.Key(address));
                _backends.Add(new BackendSlot(await grain.SubscribeAsync(Key, cancellationToken)));
            }
        }

        _timeoutTimer = Context.RegisterTimer(ExpireWaitersAsync, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        var sweep = TimeSpan.FromTicks(Math.Clamp(_options.MaxLeaseLifetime.Ticks / 10, TimeSpan.TicksPerSecond, TimeSpan.TicksPerMinute));
        _expiryTimer = Context.RegisterTimer(ExpireLeasesAsync, sweep, sweep);
        Log.Activated(_logger, Key, _backends.Count);
    }

    public override async Task OnDeactivateAsync(CancellationToken cancellationToken)
    {
        _timeoutTimer?.Dispose();
        _expiryTimer?.Dispose();
        _ledger.Unwatch(Key);
        foreach (var slot in _backends)
        {
            var grain = Context.GrainFactory.GetGrain<IBackendGrain>(BackendAddress.Key(slot.Snapshot.Address));
            await grain.UnsubscribeAsync(Key, cancellationToken);
        }
    }

    public async Task<LeaseGrant> AcquireAsync(LeaseRequest request, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (!_backends.Exists(b => b.Snapshot.Healthy))
        {
            return LeaseGrant.Refused(LeaseOutcome.NoHealthyBackend, TimeSpan.Zero, _options.RetryAfter);
        }

        var token = Context.GrainFactory.GetGrain<ITokenGrain>(request.TokenId);
        var admission = await token.TryEnterWaitingAsync(cancellationToken);
        if (admission != WaitAdmission.Admitted)
        {
            // The token can be gone here (revoked while a frontend still had it cached).
            var outcome = admission switch
            {
                WaitAdmission.OverThreshold => LeaseOutcome.OverThreshold,
                WaitAdmission.StoreUnavailable => LeaseOutcome.TokenStoreUnavailable,
                _ => LeaseOutcome.TokenRejected,
            };
            return LeaseGrant.Refused(outcome, TimeSpan.Zero, _options.RetryAfter);
        }

        // A request re-submitted after its model moved keeps the deadline and the wait it had.
        var enqueued = _time.GetTimestamp() - (long)(request.AlreadyWaited.TotalSeconds * _time.TimestampFrequency);
        var waiter = new Waiter(request, ++_sequence, enqueued, _time.GetUtcNow() + _queueTimeout - request.AlreadyWaited);
        _waitList.Add(waiter);
        _metrics.Adjust(Key, request.Priority, waiting: 1, inFlight: 0);
        _byDeadline.Enqueue(waiter, waiter.Deadline);
        ArmTimeoutTimer();

        LeaseGrant grant;
        using (cancellationToken.Register(static (state, ct) => ((Waiter)state!).Completion.TrySetCanceled(ct), waiter))
        {
            GrantWhilePossible();
            try
            {
                grant = await waiter.Completion.Task;
            }
            catch (OperationCanceledException)
            {
                RemoveWaiter(waiter);
                await token.LeaveWaitingAsync(granted: false, CancellationToken.None);
                throw;
            }
        }

        await token.LeaveWaitingAsync(grant.Outcome == LeaseOutcome.Granted, CancellationToken.None);
        return grant;
    }

    public async Task ReleaseAsync(LeaseRelease release, CancellationToken cancellationToken)
    {
        if (!_leases.Remove(release.LeaseId, out var lease))
        {
            return;
        }

        lease.Slot.LeasesInFlight--;
        _metrics.Adjust(Key, lease.Priority, waiting: 0, inFlight: -1);
        var unreachable = release.Reason == LeaseEndReason.UpstreamUnreachable && lease.Slot.Snapshot.Healthy;
        if (unreachable)
        {
            // Stop granting on it now; its backend grain confirms with a newer snapshot and probes it.
            lease.Slot.Snapshot = lease.Slot.Snapshot with { Healthy = false };
        }

        if (!lease.Adopted)
        {
            _waitList.Released(lease.TokenId, lease.Priority, lease.Cost, release.Usage?.CompletionTokens);
        }

        if (lease.HoldsTokenSlot)
        {
            _ledger.Release(lease.TokenId); // other models waiting on this token are told
            _waitList.Unpark(lease.TokenId);
        }

        Log.Released(_logger, release.LeaseId, release.Reason.ToString(), release.StatusCode);
        GrantWhilePossible();
        await Context.GrainFactory.GetGrain<ITokenGrain>(lease.TokenId).ReleaseAsync(release.Usage, CancellationToken.None);
        if (unreachable)
        {
            var backend = Context.GrainFactory.GetGrain<IBackendGrain>(BackendAddress.Key(lease.Slot.Snapshot.Address));
            await backend.ReportUnreachableAsync("a frontend could not connect", CancellationToken.None);
        }
    }

    public async Task<bool> AdoptAsync(LeaseAdoption adoption, CancellationToken cancellationToken)
    {
        if (_leases.ContainsKey(adoption.LeaseId))
        {
            return true;
        }

        var slot = BackendAddress.TryNormalize(adoption.Backend.ToString()) is { } address ? _backends.Find(b => b.Snapshot.Address == address) : null;
        if (slot is null)
        {
            Log.AdoptionRefused(_logger, adoption.LeaseId, adoption.Backend, Key);
            return false;
        }

        // Counted as it is, even above a limit: the request already runs, refusing it would stop nothing.
        var limited = adoption.MaxInFlight is not null;
        if (limited)
        {
            _ledger.Adopt(adoption.TokenId);
        }

        slot.LeasesInFlight++;
        _metrics.Adjust(Key, adoption.Priority, waiting: 0, inFlight: 1);
        _leases.Add(adoption.LeaseId, new ActiveLease(adoption.LeaseId, adoption.TokenId, adoption.Priority, 1, slot, _time.GetUtcNow() - adoption.Held, limited, Adopted: true));
        Log.Adopted(_logger, adoption.LeaseId, adoption.RequestId, slot.Snapshot.Address);
        await Context.GrainFactory.GetGrain<ITokenGrain>(adoption.TokenId).AdoptInFlightAsync(CancellationToken.None);
        return true;
    }

    public Task<int> GetWaitingCountAsync(CancellationToken cancellationToken) => Task.FromResult(_waitList.Count);

    public Task OnBackendChangedAsync(BackendSnapshot snapshot, CancellationToken cancellationToken)
    {
        var slot = _backends.Find(b => b.Snapshot.Address == snapshot.Address);
        if (slot is not null && snapshot.Version > slot.Snapshot.Version)
        {
            slot.Snapshot = snapshot;
            Log.BackendChanged(_logger, snapshot.Address, Key, snapshot.Healthy, snapshot.Load?.Running ?? 0, snapshot.Load?.PerUserRate ?? 0);
            GrantWhilePossible();
        }

        return Task.CompletedTask;
    }

    public Task OnTokenReleasedAsync(string tokenId, CancellationToken cancellationToken)
    {
        if (_waitList.Unpark(tokenId))
        {
            GrantWhilePossible();
        }

        return Task.CompletedTask;
    }

    public Task<ModelSnapshot> GetSnapshotAsync(CancellationToken cancellationToken)
    {
        var backends = _backends.ConvertAll(b => new BackendLoad(b.Snapshot, b.LeasesInFlight));
        var leases = _leases.Values.Select(l => new LeaseView(l.TokenId, l.Priority, l.Slot.Snapshot.Address, l.GrantedAt)).ToList();
        return Task.FromResult(new ModelSnapshot(Key, _waitList.Count, _leases.Count, backends, _waitList.WaitingByToken(), leases));
    }

    /// <summary>Grants leases, in wait-list order, for as long as a replica has room.</summary>
    private void GrantWhilePossible()
    {
        while (_waitList.TryPeekNext(out var waiter))
        {
            var index = ReplicaChooser.Choose(_backends, _rotation, _admission);
            if (index < 0)
            {
                return;
            }

            var request = waiter.Request;
            var limited = request.MaxInFlight is not null;
            if (limited)
            {
                // Watch first, so a slot freed right after a refused TryAcquire still wakes this model.
                _ledger.Watch(request.TokenId, Key);
                if (!_ledger.TryAcquire(request.TokenId, request.MaxInFlight!.Value))
                {
                    _waitList.Park(waiter);
                    continue;
                }
            }

            var slot = _backends[index];
            var leaseId = Guid.NewGuid().ToString("N");
            var waited = _time.GetElapsedTime(waiter.EnqueuedTimestamp);
            if (!waiter.Completion.TrySetResult(new LeaseGrant(LeaseOutcome.Granted, leaseId, slot.Snapshot.Address, waited, null)))
            {
                RemoveWaiter(waiter); // the caller went away a moment ago; nothing was consumed
                if (limited)
                {
                    _ledger.Release(request.TokenId);
                }

                continue;
            }

            _waitList.Grant(waiter);
            _metrics.Adjust(Key, request.Priority, waiting: -1, inFlight: 1);
            _rotation = (index + 1) % _backends.Count;
            slot.LeasesInFlight++;
            _leases.Add(leaseId, new ActiveLease(leaseId, request.TokenId, request.Priority, waiter.Cost, slot, _time.GetUtcNow(), limited, Adopted: false));
            Log.Granted(_logger, leaseId, request.RequestId, slot.Snapshot.Address, waited.TotalMilliseconds);
        }
    }

    /// <summary>Takes a waiter out of the wait list without a lease (cancelled, timed out), once.</summary>
    private void RemoveWaiter(Waiter waiter)
    {
        if (waiter.IsWaiting)
        {
            _waitList.Remove(waiter);
            _metrics.Adjust(Key, waiter.Request.Priority, waiting: -1, inFlight: 0);
        }
    }

    /// <summary>Keeps the timeout timer due at the earliest deadline still waiting.</summary>
    private void ArmTimeoutTimer()
    {
        while (_byDeadline.TryPeek(out var head, out _) && !head.IsWaiting)
        {
            _byDeadline.Dequeue();
        }

        if (_byDeadline.Count == 0)
        {
            _timeoutTimerDue = null;
            _timeoutTimer?.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            return;
        }

        var due = _byDeadline.Peek().Deadline;
        if (_timeoutTimerDue != due)
        {
            _timeoutTimerDue = due;
            var delay = due - _time.GetUtcNow();
            _timeoutTimer?.Change(delay > TimeSpan.Zero ? delay : TimeSpan.Zero, Timeout.InfiniteTimeSpan);
        }
    }

    private Task ExpireWaitersAsync(CancellationToken cancellationToken)
    {
        _timeoutTimerDue = null;
        var now = _time.GetUtcNow();
        while (_byDeadline.TryPeek(out var waiter, out var deadline) && deadline <= now)
        {
            _byDeadline.Dequeue();
            if (!waiter.IsWaiting)
            {
                continue;
            }

            RemoveWaiter(waiter);
            var waited = _time.GetElapsedTime(waiter.EnqueuedTimestamp);
            waiter.Completion.TrySetResult(LeaseGrant.Refused(LeaseOutcome.QueueTimeout, waited, _options.RetryAfter));
            Log.TimedOut(_logger, waiter.Request.RequestId, Key, waited.TotalMilliseconds);
        }

        ArmTimeoutTimer();
        return Task.CompletedTask;
    }

    private async Task ExpireLeasesAsync(CancellationToken cancellationToken)
    {
        var oldest = _time.GetUtcNow() - _options.MaxLeaseLifetime;
        List<ActiveLease>? expired = null;
        foreach (var lease in _leases.Values)
        {
            if (lease.GrantedAt <= oldest)
            {
                (expired ??= []).Add(lease);
            }
        }

        foreach (var lease in expired ?? [])
        {
            Log.Expired(_logger, lease.LeaseId, lease.Slot.Snapshot.Address, _options.MaxLeaseLifetime);
            await ReleaseAsync(new LeaseRelease(lease.LeaseId, LeaseEndReason.Expired, null, null), cancellationToken);
        }
    }
}
