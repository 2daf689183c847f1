using System.Diagnostics;
using Dispatcher.Grains.Abstractions;
using Dispatcher.Grains.Abstractions.Backends;
using Dispatcher.Grains.Abstractions.Configuration;
using Dispatcher.Grains.Abstractions.Leases;
using Dispatcher.Grains.Abstractions.Models;
using Dispatcher.Grains.Abstractions.Tokens;
using Dispatcher.Grains.Backends;
using Dispatcher.Grains.Capacity;
using Dispatcher.Grains.Scheduling;
using Dispatcher.Grains.Telemetry;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;

namespace Dispatcher.Grains.Models;

/// <summary>
/// One served model: its wait list, its replicas as seen through their backend grains, and its leases.
/// Reentrant, so grants, releases, renewals and replica updates run while thousands of lease calls wait; every state
/// change happens in one synchronous stretch between awaits. Grants happen synchronously
/// (<see cref="GrantWhilePossible"/>) whenever something changes: a request arrives, a lease is released, or a
/// replica's snapshot changes. The grain keeps itself active (its sweep timer keeps it alive): Orleans has no
/// deactivation veto, and its wait list and leases must not be lost to idle collection.
/// </summary>
[Reentrant]
internal sealed partial class ModelGrain : Grain, IModelGrain
{
    /// <summary>How often holders, lease lifetimes and backend subscriptions are checked.</summary>
    private static readonly TimeSpan SweepPeriod = TimeSpan.FromSeconds(1);

    /// <summary>Every this many sweeps the model re-subscribes to its replicas (a backend grain lost with its silo comes back).</summary>
    private const int ResubscribeEvery = 5;

    /// <summary>
    /// The longest this grain waits on another grain (a token's or a replica's). One on a silo that stops or died may
    /// not answer for the whole response timeout (30 s), and a graceful stop's deactivation waits for every call this
    /// grain is running: meanwhile every Frontend's calls to this model queue behind it.
    /// </summary>
    private static readonly TimeSpan GrainCallTimeout = TimeSpan.FromSeconds(5);

    private readonly DispatcherOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<ModelGrain> _logger;
    private readonly GrainsMetrics _metrics;
    private readonly IHostApplicationLifetime _lifetime;
    private readonly IClusterMembershipService _membership;
    private readonly ILocalSiloDetails _silo;
    private readonly ReplicaDirectory _replicas;
    private readonly WaitList _waitList;
    private readonly PriorityQueue<Waiter, DateTimeOffset> _byDeadline = new();
    private readonly Dictionary<string, Waiter> _waitersByRequest = new(StringComparer.Ordinal);

    /// <summary>
    /// Requests whose token grain has not yet answered their admission: a renewal must not call them unknown, or a
    /// burst that queues at one token grain is abandoned and sent again to the back of that queue, over and over.
    /// </summary>
    private readonly HashSet<string> _entering = new(StringComparer.Ordinal);

    /// <summary>
    /// Requests abandoned before their lease call got here (the client left while the call was on its way), with when:
    /// the call, when it comes, is turned away instead of waiting for a lease nobody would use. Kept for the holder expiry.
    /// </summary>
    private readonly Dictionary<string, DateTimeOffset> _abandoned = new(StringComparer.Ordinal);
    private readonly Dictionary<string, ActiveLease> _leases = new(StringComparer.Ordinal);
    private readonly Dictionary<string, DateTimeOffset> _holders = new(StringComparer.Ordinal);
    private readonly List<BackendSlot> _backends = [];

    /// <summary>Tokens whose requests here are parked because their grain refused an in-flight slot (or did not answer).</summary>
    private readonly HashSet<string> _tokensWithoutSlot = new(StringComparer.Ordinal);
    private string _model = "";
    private TimeSpan _queueTimeout;
    private AdmissionPolicy _admission = null!;
    private IGrainTimer? _timeoutTimer;
    private DateTimeOffset? _timeoutTimerDue;
    private IGrainTimer? _sweepTimer;
    private CancellationTokenRegistration _stoppingRegistration;
    private bool _stopping;

    /// <summary>The replicas are found at run time (<see cref="ModelOptions.Discovery"/>), not configured.</summary>
    private bool _discovered;

    /// <summary>Completed when the grain stops taking requests (<see cref="StopWaiting"/>): cuts the admission call short.</summary>
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _sequence;

    /// <summary>Starts every lease id this activation grants (then a sequence number): a renewal can tell them from leases to adopt.</summary>
    private readonly string _leasePrefix = $"{Guid.NewGuid():N}-";
    private long _leaseSequence;
    private int _rotation;
    private int _sweeps;

    /// <summary><see cref="TimeProvider.GetTimestamp"/> when this activation began (renewals tell its age).</summary>
    private long _activated;

    public ModelGrain(
        IOptions<DispatcherOptions> options,
        GrainsMetrics metrics,
        TimeProvider time,
        IHostApplicationLifetime lifetime,
        IClusterMembershipService membership,
        ILocalSiloDetails silo,
        ReplicaDirectory replicas,
        ILogger<ModelGrain> logger)
    {
        _membership = membership;
        _silo = silo;
        _replicas = replicas;
        _options = options.Value;
        _metrics = metrics;
        _time = time;
        _lifetime = lifetime;
        _logger = logger;
        _waitList = new WaitList(ServiceOrder.Create(_options.Scheduling, time));
    }

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _model = this.GetPrimaryKeyString();
        _activated = _time.GetTimestamp();
        var model = _options.FindModel(_model);
        _queueTimeout = model?.QueueTimeout ?? _options.QueueTimeout;
        _admission = new AdmissionPolicy(_options.Capacity, model?.MinTokensPerSecond ?? _options.Capacity.MinTokensPerSecond);
        _discovered = model?.Discovery is not null;
        var addresses = _discovered
            ? _replicas.Find(_model) ?? [] // not listed yet: the sweep adds them as soon as they are
            : (model?.Backends ?? []).Select(BackendAddress.TryNormalize).OfType<Uri>();
        var snapshots = await Task.WhenAll(addresses.Select(address => SubscribeAsync(address, model!, cancellationToken)));
        _backends.AddRange(snapshots.Select(snapshot => new BackendSlot(snapshot)));

        _timeoutTimer = this.RegisterGrainTimer(ExpireWaitersAsync, new GrainTimerCreationOptions(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan) { Interleave = true });
        _sweepTimer = this.RegisterGrainTimer(SweepAsync, new GrainTimerCreationOptions(SweepPeriod, SweepPeriod) { Interleave = true, KeepAlive = true });

        // OnDeactivateAsync does not run while lease calls wait: on a graceful stop the waiters are sent back at once,
        // on this activation's scheduler, so their Frontends submit them again to the next activation.
        var scheduler = TaskScheduler.Current;
        _stoppingRegistration = _lifetime.ApplicationStopping.Register(() =>
            Task.Factory.StartNew(StopAndMove, CancellationToken.None, TaskCreationOptions.None, scheduler));
        Log.Activated(_logger, _model, _backends.Count);
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        Log.Deactivating(_logger, _model, reason.ReasonCode.ToString(), _leases.Count);
        _metrics.ModelGone(_model);
        await _stoppingRegistration.DisposeAsync();
        _timeoutTimer?.Dispose();
        _sweepTimer?.Dispose();
        StopWaiting();

        // One-way: a deactivation (a silo stopping) never waits on a backend grain that may be deactivating too.
        foreach (var slot in _backends)
        {
            await GrainFactory.GetGrainByKey<IBackendGrain>(BackendAddress.Key(slot.Snapshot.Address)).UnsubscribeAsync(_model, cancellationToken);
        }
    }

    public async Task<LeaseGrant> AcquireAsync(LeaseRequest request, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        Seen(request.HolderId); // its Frontend is alive, even while this call waits for its token's admission
        if (_stopping)
        {
            return LeaseGrant.Refused(LeaseOutcome.Stopping, request.AlreadyWaited, TimeSpan.Zero);
        }

        if (!_backends.Exists(b => b.Snapshot.Healthy && !b.Draining))
        {
            return LeaseGrant.Refused(LeaseOutcome.NoHealthyBackend, TimeSpan.Zero, _options.RetryAfter);
        }

        var token = GrainFactory.GetGrainByKey<ITokenGrain>(request.TokenId);
        if (CanGrantAtOnce(request))
        {
            return await GrantAtOnceAsync(request, token, cancellationToken);
        }

        // Not bounded by time: a burst of one token's requests queues at its grain, and cutting those calls would have
        // their Frontends send them again and again. Cut only when this grain stops (its deactivation waits for it).
        WaitAdmission admission;
        _entering.Add(request.RequestId);
        try
        {
            // Not cancelled with the caller: a cancelled call that the token grain had already counted would leave that
            // count behind (the caller's cancellation is checked once the token has answered, below).
            if (await AdmitAsync(token.TryEnterWaitingAsync(request.RequestId, CancellationToken.None)) is not { } admitted)
            {
                return LeaseGrant.Refused(LeaseOutcome.Stopping, request.AlreadyWaited, TimeSpan.Zero); // counted once when sent again
            }

            admission = admitted;
        }
        finally
        {
            _entering.Remove(request.RequestId);
        }

        if (admission != WaitAdmission.Admitted)
        {
            return RefusedBy(admission);
        }

        if (_stopping)
        {
            await TryCallAsync(token.LeaveWaitingAsync(_model, request.RequestId, null, CancellationToken.None), "LeaveWaiting");
            return LeaseGrant.Refused(LeaseOutcome.Stopping, request.AlreadyWaited, TimeSpan.Zero);
        }

        if (_abandoned.ContainsKey(request.RequestId) || cancellationToken.IsCancellationRequested)
        {
            await TryCallAsync(token.LeaveWaitingAsync(_model, request.RequestId, null, CancellationToken.None), "LeaveWaiting");
            throw new OperationCanceledException($"Request {request.RequestId} was abandoned or cancelled while its token admitted it.");
        }

        if (_waitersByRequest.TryGetValue(request.RequestId, out var earlier) && earlier.IsWaiting)
        {
            // Sent twice: its Frontend re-submitted it while the first call was still on its way here. The call that
            // has waited longer (the later submission) stays; the token counted the request once, for that one.
            if (earlier.Request.AlreadyWaited > request.AlreadyWaited)
            {
                return LeaseGrant.Refused(LeaseOutcome.Stopping, request.AlreadyWaited, TimeSpan.Zero);
            }

            earlier.Superseded = true;
            Refuse(earlier, LeaseOutcome.Stopping, TimeSpan.Zero);
        }

        // A request re-submitted after its model grain moved keeps the deadline and the wait it had.
        var enqueued = _time.GetTimestamp() - (long)(request.AlreadyWaited.TotalSeconds * _time.TimestampFrequency);
        var waiter = new Waiter(request, ++_sequence, enqueued, _time.GetUtcNow() + _queueTimeout - request.AlreadyWaited);
        _waitList.Add(waiter);
        _waitersByRequest[request.RequestId] = waiter;
        _metrics.Adjust(_model, request.Priority, waiting: 1, inFlight: 0);
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
                await TryCallAsync(token.LeaveWaitingAsync(_model, request.RequestId, null, CancellationToken.None), "LeaveWaiting");
                throw;
            }
        }

        if (waiter.Superseded)
        {
            return grant;
        }

        // One-way: the grant goes back to its Frontend without one more round trip to the token's grain. The token still
        // hears of the lease before its release (both are sent from here, in that order), and a count that went astray is
        // dropped by the token's own check of which leases their models hold.
        await TryCallAsync(token.LeaveWaitingAsync(_model, request.RequestId, grant.Outcome == LeaseOutcome.Granted ? grant.LeaseId : null, CancellationToken.None), "LeaveWaiting");
        if (grant.Outcome == LeaseOutcome.Granted && cancellationToken.IsCancellationRequested)
        {
            // The caller gave up just as the lease was granted (its cancellation crossed the grant): nobody will use or
            // release this lease, so it goes back now.
            await ReleaseAsync(new LeaseRelease(grant.LeaseId!, LeaseEndReason.ClientAborted, null, null), CancellationToken.None);
            cancellationToken.ThrowIfCancellationRequested();
        }

        return grant;
    }

    /// <summary>
    /// Nobody waits (nor is being admitted) and a replica has room, for a token without an in-flight limit: the request
    /// can be granted before its token's grain is asked.
    /// </summary>
    private bool CanGrantAtOnce(LeaseRequest request) =>
        request.MaxInFlight is null && _waitList.Count == 0 && _entering.Count == 0 && !_abandoned.ContainsKey(request.RequestId)
        && ReplicaChooser.Choose(_backends, _rotation, _admission) >= 0;

    /// <summary>
    /// Grants a request at once (<see cref="CanGrantAtOnce"/>), then has its token's grain admit it and count its lease in
    /// one call (<see cref="ITokenGrain.TryStartAsync"/>) instead of two (admission as waiting, then the grant): one call
    /// to the token's grain fewer for every request that does not wait, and no deadline to arm. The grant goes through
    /// the wait list all the same, so the service order counts it. Refused by the token (revoked, over its threshold) or
    /// sent back because the silo stops, the lease goes back unused; a caller gone meanwhile gets its cancellation.
    /// </summary>
    private async Task<LeaseGrant> GrantAtOnceAsync(LeaseRequest request, ITokenGrain token, CancellationToken cancellationToken)
    {
        var waiter = new Waiter(request, ++_sequence, _time.GetTimestamp(), DateTimeOffset.MaxValue);
        _waitList.Add(waiter);
        _metrics.Adjust(_model, request.Priority, waiting: 1, inFlight: 0);
        GrantWhilePossible();
        Debug.Assert(waiter.Completion.Task.IsCompletedSuccessfully, "alone in the wait list with a replica free, it is granted at once");
        var grant = await waiter.Completion.Task;
        var leaseId = grant.LeaseId!;

        // Not cancelled with the caller, like the admission (a lease it counted is given back by the release below).
        var admission = await AdmitAsync(token.TryStartAsync(_model, request.RequestId, leaseId, CancellationToken.None));
        if (admission != WaitAdmission.Admitted)
        {
            await ReleaseAsync(new LeaseRelease(leaseId, LeaseEndReason.Unused, null, null), CancellationToken.None);
            return admission is { } refusal ? RefusedBy(refusal) : LeaseGrant.Refused(LeaseOutcome.Stopping, request.AlreadyWaited, TimeSpan.Zero);
        }

        if (!_leases.ContainsKey(leaseId) || _abandoned.ContainsKey(request.RequestId) || cancellationToken.IsCancellationRequested)
        {
            // Abandoned while its token answered. An abandon that found the lease gave it back, and told the token, maybe
            // before the token counted it: told again (releasing an unknown lease does nothing).
            await (_leases.ContainsKey(leaseId)
                ? ReleaseAsync(new LeaseRelease(leaseId, LeaseEndReason.ClientAborted, null, null), CancellationToken.None)
                : TryCallAsync(token.ReleaseAsync(leaseId, null, CancellationToken.None), "Release"));
            throw new OperationCanceledException($"Request {request.RequestId} was abandoned or cancelled while its token admitted it.");
        }

        return grant;
    }

    /// <summary>The token grain's answer to an admission, or null when this grain stopped taking requests first.</summary>
    private async Task<WaitAdmission?> AdmitAsync(Task<WaitAdmission> admission) =>
        await Task.WhenAny(admission, _stopped.Task) == admission ? await admission : null;

    /// <summary>A request its token refused (the token can be gone here: revoked while a Frontend still had it cached).</summary>
    private LeaseGrant RefusedBy(WaitAdmission admission)
    {
        var outcome = admission switch
        {
            WaitAdmission.OverThreshold => LeaseOutcome.OverThreshold,
            WaitAdmission.StoreUnavailable => LeaseOutcome.TokenStoreUnavailable,
            _ => LeaseOutcome.TokenRejected,
        };
        return LeaseGrant.Refused(outcome, TimeSpan.Zero, _options.RetryAfter);
    }

    public async Task ReleaseAsync(LeaseRelease release, CancellationToken cancellationToken)
    {
        if (!_leases.Remove(release.LeaseId, out var lease))
        {
            return;
        }

        Seen(lease.HolderId);
        lease.Slot.LeasesInFlight--;
        _metrics.Adjust(_model, lease.Priority, waiting: 0, inFlight: -1);
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

        Log.Released(_logger, release.LeaseId, release.Reason.ToString(), release.StatusCode);
        GrantWhilePossible();
        await TryCallAsync(GrainFactory.GetGrainByKey<ITokenGrain>(lease.TokenId).ReleaseAsync(lease.LeaseId, release.Usage, CancellationToken.None), "Release");
        if (unreachable)
        {
            var backend = GrainFactory.GetGrainByKey<IBackendGrain>(BackendAddress.Key(lease.Slot.Snapshot.Address));
            await TryCallAsync(backend.ReportUnreachableAsync("a frontend could not connect", CancellationToken.None), "ReportUnreachable");
        }
    }

    public async Task AbandonAsync(string requestId, CancellationToken cancellationToken)
    {
        if (_waitersByRequest.TryGetValue(requestId, out var waiter))
        {
            waiter.Completion.TrySetCanceled(CancellationToken.None); // its AcquireAsync turn takes it out and settles the token
            return;
        }

        foreach (var lease in _leases.Values)
        {
            if (lease.RequestId == requestId)
            {
                await ReleaseAsync(new LeaseRelease(lease.LeaseId, LeaseEndReason.ClientAborted, null, null), CancellationToken.None);
                return;
            }
        }

        _abandoned[requestId] = _time.GetUtcNow(); // its lease call may still be on its way, or waiting for its token
    }

    public async Task<RenewalResult> RenewAsync(LeaseRenewal renewal, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        _holders[renewal.HolderId] = now;
        List<string>? refused = null;
        List<ActiveLease>? adopted = null;
        var listed = new HashSet<string>(StringComparer.Ordinal);
        foreach (var lease in renewal.Leases)
        {
            listed.Add(lease.LeaseId);
            if (_leases.ContainsKey(lease.LeaseId) || lease.LeaseId.StartsWith(_leasePrefix, StringComparison.Ordinal))
            {
                // Known, or granted by this activation and since released: a renewal sent before its release crossed it,
                // and adopting the lease again would hold its slot until the holder expiry (found by the soak).
                continue;
            }

            if (Adopt(lease, renewal.HolderId) is { } taken)
            {
                (adopted ??= []).Add(taken);
            }
            else
            {
                (refused ??= []).Add(lease.LeaseId);
            }
        }

        // A lease of this holder that it no longer lists (its release was lost, or it gave up a call that was granted
        // meanwhile) is taken back once it is older than the holder expiry, so no grant in flight is mistaken for one.
        List<ActiveLease>? forgotten = null;
        List<string>? unknown = null;
        var leasedRequests = new HashSet<string>(StringComparer.Ordinal);
        foreach (var lease in _leases.Values)
        {
            if (lease.HolderId == renewal.HolderId)
            {
                leasedRequests.Add(lease.RequestId);
                if (!listed.Contains(lease.LeaseId) && lease.GrantedAt < now - _options.HolderExpiry)
                {
                    (forgotten ??= []).Add(lease);
                }
            }
        }

        foreach (var requestId in renewal.Waiting)
        {
            var waiting = _entering.Contains(requestId) || (_waitersByRequest.TryGetValue(requestId, out var waiter) && waiter.IsWaiting);
            if (!waiting && !leasedRequests.Contains(requestId))
            {
                (unknown ??= []).Add(requestId);
            }
        }


        foreach (var lease in adopted ?? [])
        {
            await TryCallAsync(GrainFactory.GetGrainByKey<ITokenGrain>(lease.TokenId).AdoptInFlightAsync(_model, lease.LeaseId, CancellationToken.None), "AdoptInFlight");
        }

        foreach (var lease in forgotten ?? [])
        {
            await ReleaseAsync(new LeaseRelease(lease.LeaseId, LeaseEndReason.HolderLost, null, null), CancellationToken.None);
        }

        return new RenewalResult(unknown ?? [], refused ?? [], _time.GetElapsedTime(_activated));
    }

    public Task<IReadOnlyList<string>> FindLeasesAsync(IReadOnlyList<string> leaseIds, CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<string>>([.. leaseIds.Where(_leases.ContainsKey)]);

    public Task<int> GetWaitingCountAsync(CancellationToken cancellationToken) => Task.FromResult(_waitList.Count);

    public Task OnBackendChangedAsync(BackendSnapshot snapshot, CancellationToken cancellationToken)
    {
        var slot = _backends.Find(b => b.Snapshot.Address == snapshot.Address);
        if (slot is not null && snapshot.Version > slot.Snapshot.Version)
        {
            slot.Snapshot = snapshot;
            Log.BackendChanged(_logger, snapshot.Address, _model, snapshot.Healthy, snapshot.Load?.Running ?? 0, snapshot.Load?.PerUserRate ?? 0);
            GrantWhilePossible();
        }

        return Task.CompletedTask;
    }

    public Task OnTokenReleasedAsync(string tokenId, CancellationToken cancellationToken)
    {
        _tokensWithoutSlot.Remove(tokenId);
        if (_waitList.Unpark(tokenId))
        {
            GrantWhilePossible();
        }

        return Task.CompletedTask;
    }

    public Task<ModelSnapshot> GetSnapshotAsync(CancellationToken cancellationToken)
    {
        var backends = _backends.ConvertAll(b => new BackendLoad(b.Snapshot, b.LeasesInFlight, b.Draining));
        var leases = _leases.Values.Select(l => new LeaseView(l.TokenId, l.Priority, l.Slot.Snapshot.Address, l.GrantedAt)).ToList();
        return Task.FromResult(new ModelSnapshot(_model, _waitList.Count, _leases.Count, backends, _waitList.WaitingByToken(), leases));
    }

    /// <summary>
    /// The replica's state from its backend grain. Bounded: an activation must not hang on a backend grain whose silo
    /// is stopping or gone; it then starts from the configured cap (version 0) and the next re-subscription fills it in.
    /// </summary>
    private async Task<BackendSnapshot> SubscribeAsync(Uri address, ModelOptions model, CancellationToken cancellationToken)
    {
        try
        {
            return await GrainFactory.GetGrainByKey<IBackendGrain>(BackendAddress.Key(address)).SubscribeAsync(_model, cancellationToken)
                .WaitAsync(GrainCallTimeout, cancellationToken);
        }
        catch (Exception exception) when (exception is TimeoutException or OrleansException)
        {
            return new BackendSnapshot(address, Healthy: true, model.MaxConcurrentLeasesPerBackend ?? _options.MaxConcurrentLeasesPerBackend, Version: 0);
        }
    }

    /// <summary>
    /// Brings the replicas in line with what discovery sees now: a new one is subscribed to and takes leases at once; one
    /// that is gone or no longer ready drains (no new leases) and is dropped, with its subscription, once its last lease
    /// has ended. One that comes back while draining serves again.
    /// </summary>
    private async Task FollowReplicasAsync(CancellationToken cancellationToken)
    {
        if (_replicas.Find(_model) is not { } found)
        {
            return;
        }

        var changed = false;
        foreach (var slot in _backends)
        {
            var draining = !found.Contains(slot.Snapshot.Address);
            if (draining != slot.Draining)
            {
                slot.Draining = draining;
                changed = true;
                if (draining)
                {
                    Log.ReplicaDraining(_logger, slot.Snapshot.Address, _model, slot.LeasesInFlight);
                }
                else
                {
                    Log.ReplicaReady(_logger, slot.Snapshot.Address, _model);
                }
            }
        }

        var model = _options.FindModel(_model)!;
        foreach (var address in found.Where(a => !_backends.Exists(b => b.Snapshot.Address == a)).ToList())
        {
            var snapshot = await SubscribeAsync(address, model, cancellationToken);
            if (!_backends.Exists(b => b.Snapshot.Address == address))
            {
                _backends.Add(new BackendSlot(snapshot));
                changed = true;
                Log.ReplicaJoined(_logger, address, _model);
            }
        }

        foreach (var slot in _backends.Where(b => b.Draining && b.LeasesInFlight == 0).ToList())
        {
            _backends.Remove(slot);
            _rotation = _backends.Count == 0 ? 0 : _rotation % _backends.Count;
            Log.ReplicaDropped(_logger, slot.Snapshot.Address, _model);
            await TryCallAsync(GrainFactory.GetGrainByKey<IBackendGrain>(BackendAddress.Key(slot.Snapshot.Address)).UnsubscribeAsync(_model, CancellationToken.None), "Unsubscribe");
        }

        if (changed)
        {
            GrantWhilePossible();
        }
    }

    /// <summary>Takes over a running lease this activation did not grant; null when its replica is not the model's.</summary>
    private ActiveLease? Adopt(LeaseAdoption adoption, string holderId)
    {
        var slot = BackendAddress.TryNormalize(adoption.Backend.ToString()) is { } address ? _backends.Find(b => b.Snapshot.Address == address) : null;
        if (slot is null)
        {
            Log.AdoptionRefused(_logger, adoption.LeaseId, adoption.Backend, _model);
            return null;
        }

        // Counted as it is, even above its token's limit: the request already runs, refusing it would stop nothing.
        slot.LeasesInFlight++;
        _metrics.Adjust(_model, adoption.Priority, waiting: 0, inFlight: 1);
        var lease = new ActiveLease(adoption.LeaseId, adoption.RequestId, holderId, adoption.TokenId, adoption.Priority, 1, slot, _time.GetUtcNow() - adoption.Held, Adopted: true);
        _leases.Add(adoption.LeaseId, lease);
        Log.Adopted(_logger, adoption.LeaseId, adoption.RequestId, slot.Snapshot.Address);
        return lease;
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
            if (request.MaxInFlight is not null && waiter.TokenSlot != TokenSlot.Held)
            {
                // The token's grain keeps its in-flight limit for the whole cluster: its requests here are held back
                // until it gives this one a slot (or, refused, says that one freed).
                _waitList.Park(waiter);
                if (waiter.TokenSlot == TokenSlot.None)
                {
                    waiter.TokenSlot = TokenSlot.Asked;
                    _ = AskTokenSlotAsync(waiter);
                }

                continue;
            }

            var slot = _backends[index];
            var leaseId = $"{_leasePrefix}{++_leaseSequence}";
            var waited = _time.GetElapsedTime(waiter.EnqueuedTimestamp);
            if (!waiter.Completion.TrySetResult(new LeaseGrant(LeaseOutcome.Granted, leaseId, slot.Snapshot.Address, waited, null)))
            {
                RemoveWaiter(waiter); // the caller went away a moment ago (its AcquireAsync turn gives a token slot back)
                continue;
            }

            _waitList.Grant(waiter);
            _waitersByRequest.Remove(request.RequestId);
            DropDeadlinesOfLeftWaiters();
            _metrics.Adjust(_model, request.Priority, waiting: -1, inFlight: 1);
            _rotation = (index + 1) % _backends.Count;
            slot.LeasesInFlight++;
            _leases.Add(leaseId, new ActiveLease(leaseId, request.RequestId, request.HolderId, request.TokenId, request.Priority, waiter.Cost, slot, _time.GetUtcNow(), Adopted: false));
            Log.Granted(_logger, leaseId, request.RequestId, slot.Snapshot.Address, waited.TotalMilliseconds);
        }
    }

    /// <summary>
    /// Asks <paramref name="waiter"/>'s token grain for an in-flight slot (its token's requests here are parked
    /// meanwhile). Taken: they go back in line. Refused or failed: they stay parked until the token grain says a slot
    /// freed, or the next sweep asks again.
    /// </summary>
    private async Task AskTokenSlotAsync(Waiter waiter)
    {
        var request = waiter.Request;
        var token = GrainFactory.GetGrainByKey<ITokenGrain>(request.TokenId);
        bool taken;
        try
        {
            taken = await token.TryTakeSlotAsync(_model, request.RequestId, CancellationToken.None).WaitAsync(GrainCallTimeout);
        }
        catch (Exception exception) when (exception is TimeoutException or OrleansException)
        {
            Log.GrainCallFailed(_logger, _model, "TryTakeSlot", exception.GetType().Name);
            taken = false;
        }

        waiter.TokenSlot = taken ? TokenSlot.Held : TokenSlot.None;
        if (!waiter.IsWaiting)
        {
            if (taken)
            {
                // It left while the slot was on its way (its own leave may have reached the token grain first).
                await TryCallAsync(token.LeaveWaitingAsync(_model, request.RequestId, null, CancellationToken.None), "LeaveWaiting");
            }

            return;
        }

        if (!taken)
        {
            _tokensWithoutSlot.Add(request.TokenId);
        }
        else if (_waitList.Unpark(request.TokenId))
        {
            GrantWhilePossible();
        }
    }

    /// <summary>
    /// Awaits a call to another grain for at most <see cref="GrainCallTimeout"/>. A call that fails or takes longer is
    /// only logged: the counts it carried heal by themselves (a token grain drops waits older than the longest queue
    /// timeout and checks its leases with their models every 10 s; a replica's grain probes it anyway).
    /// </summary>
    private async Task TryCallAsync(Task call, string method)
    {
        try
        {
            await call.WaitAsync(GrainCallTimeout);
        }
        catch (Exception exception) when (exception is TimeoutException or OrleansException)
        {
            Log.GrainCallFailed(_logger, _model, method, exception.GetType().Name);
        }
    }

    /// <summary>Takes a waiter out of the wait list without a lease (cancelled, timed out, dropped), once.</summary>
    private void RemoveWaiter(Waiter waiter)
    {
        if (waiter.IsWaiting)
        {
            _waitList.Remove(waiter);
            _waitersByRequest.Remove(waiter.Request.RequestId);
            _metrics.Adjust(_model, waiter.Request.Priority, waiting: -1, inFlight: 0);
            DropDeadlinesOfLeftWaiters();
        }
    }

    /// <summary>
    /// A waiter that left (granted, cancelled, refused) keeps its place in <see cref="_byDeadline"/> until it reaches the
    /// head, and with it its request and call until its deadline: 10,000 clients gone at once were all held for the queue
    /// timeout (found by the waiting-memory benchmark). Once such entries are most of the queue, it is rebuilt from the
    /// waiters still waiting (amortized: a rebuild of n follows at least n removals) and its storage trimmed.
    /// </summary>
    private void DropDeadlinesOfLeftWaiters()
    {
        if (_byDeadline.Count <= 64 + (2 * _waitersByRequest.Count))
        {
            return;
        }

        _byDeadline.Clear();
        foreach (var waiting in _waitersByRequest.Values)
        {
            _byDeadline.Enqueue(waiting, waiting.Deadline);
        }

        _byDeadline.TrimExcess();
        if (_waitersByRequest.Count == 0)
        {
            _waitersByRequest.TrimExcess();
        }
    }

    /// <summary>Ends a wait with a refusal (its caller's <see cref="AcquireAsync"/> turn then settles the token's count).</summary>
    private void Refuse(Waiter waiter, LeaseOutcome outcome, TimeSpan? retryAfter)
    {
        RemoveWaiter(waiter);
        waiter.Completion.TrySetResult(LeaseGrant.Refused(outcome, _time.GetElapsedTime(waiter.EnqueuedTimestamp), retryAfter));
    }

    private void Seen(string? holderId)
    {
        if (holderId is not null)
        {
            _holders[holderId] = _time.GetUtcNow();
        }
    }

    /// <summary>
    /// The silo stops: the waiters are sent back (<see cref="StopWaiting"/>), and when another silo is active the grain
    /// deactivates as soon as it is idle, so the next request activates it there at once instead of being sent back until
    /// Orleans deactivates every grain near the end of its stop. Leases move as on a failover (renewals, adoption).
    /// </summary>
    private void StopAndMove()
    {
        StopWaiting();
        var elsewhere = _membership.CurrentSnapshot.Members.Values.Any(m => m.Status == SiloStatus.Active && !m.SiloAddress.Equals(_silo.SiloAddress));
        if (elsewhere)
        {
            this.DeactivateOnIdle();
        }
    }

    /// <summary>The silo stops: every waiter is answered <see cref="LeaseOutcome.Stopping"/> and new requests are too.</summary>
    private void StopWaiting()
    {
        _stopping = true;
        _stopped.TrySetResult();
        var waiters = _waitersByRequest.Values.ToList();
        foreach (var waiter in waiters)
        {
            Refuse(waiter, LeaseOutcome.Stopping, TimeSpan.Zero);
        }

        if (waiters.Count > 0)
        {
            Log.WaitersStopped(_logger, _model, waiters.Count);
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

            Log.TimedOut(_logger, waiter.Request.RequestId, _model, _time.GetElapsedTime(waiter.EnqueuedTimestamp).TotalMilliseconds);
            Refuse(waiter, LeaseOutcome.QueueTimeout, _options.RetryAfter);
        }

        ArmTimeoutTimer();
        return Task.CompletedTask;
    }

    /// <summary>
    /// Drops what silent holders hold, takes back leases past the maximum lifetime, and now and then re-subscribes to
    /// the replicas (a backend grain activated again after its silo died starts with no subscribers).
    /// </summary>
    private async Task SweepAsync(CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        List<string>? lost = null;
        foreach (var (holder, seen) in _holders)
        {
            if (seen < now - _options.HolderExpiry)
            {
                (lost ??= []).Add(holder);
            }
        }

        foreach (var holder in lost ?? [])
        {
            _holders.Remove(holder);
            var waiters = _waitersByRequest.Values.Where(w => w.Request.HolderId == holder).ToList();
            foreach (var waiter in waiters)
            {
                Refuse(waiter, LeaseOutcome.QueueTimeout, _options.RetryAfter); // nobody listens any more
            }

            var leases = _leases.Values.Where(l => l.HolderId == holder).ToList();
            Log.HolderLost(_logger, holder, _model, waiters.Count, leases.Count);
            foreach (var lease in leases)
            {
                await ReleaseAsync(new LeaseRelease(lease.LeaseId, LeaseEndReason.HolderLost, null, null), cancellationToken);
            }
        }

        if (_abandoned.Count > 0)
        {
            foreach (var (requestId, since) in _abandoned)
            {
                if (since < now - _options.HolderExpiry)
                {
                    _abandoned.Remove(requestId);
                }
            }
        }

        if (_discovered && !_stopping)
        {
            await FollowReplicasAsync(cancellationToken);
        }

        _metrics.ModelReplicas(_model,
            serving: _backends.Count(b => b.Snapshot.Healthy && !b.Draining),
            withRoom: _backends.Count(_admission.HasRoom),
            draining: _backends.Count(b => b.Draining));

        // A token grain's word that a slot freed is one-way and can be lost (its silo died): ask again now and then.
        if (_tokensWithoutSlot.Count > 0)
        {
            var refused = _tokensWithoutSlot.ToList();
            _tokensWithoutSlot.Clear();
            foreach (var tokenId in refused)
            {
                _waitList.Unpark(tokenId);
            }

            GrantWhilePossible();
        }

        var oldest = now - _options.MaxLeaseLifetime;
        foreach (var lease in _leases.Values.Where(l => l.GrantedAt <= oldest).ToList())
        {
            Log.Expired(_logger, lease.LeaseId, lease.Slot.Snapshot.Address, _options.MaxLeaseLifetime);
            await ReleaseAsync(new LeaseRelease(lease.LeaseId, LeaseEndReason.Expired, null, null), cancellationToken);
        }

        if (++_sweeps % ResubscribeEvery == 0 && !_stopping)
        {
            foreach (var slot in _backends)
            {
                try
                {
                    var snapshot = await GrainFactory.GetGrainByKey<IBackendGrain>(BackendAddress.Key(slot.Snapshot.Address)).SubscribeAsync(_model, cancellationToken)
                        .WaitAsync(GrainCallTimeout, cancellationToken);
                    await OnBackendChangedAsync(snapshot, cancellationToken);
                }
                catch (Exception exception) when (exception is TimeoutException or OrleansException)
                {
                    // Its backend grain is moving (a silo stopped or died); the next round will do.
                }
            }
        }
    }
}
