using Dispatcher.Grains.Abstractions.Backends;
using Dispatcher.Grains.Abstractions.Leases;
using Orleans.Concurrency;

namespace Dispatcher.Grains.Abstractions.Models;

/// <summary>
/// One per served model (key: the OpenAI model id), one activation in the whole cluster. Keeps the model's wait
/// list, grants leases on the model's replicas when one has room, and takes them back when the request ends.
/// </summary>
[Alias("dispatcher.IModelGrain")]
public interface IModelGrain : IGrainWithStringKey
{
    /// <summary>The longest a lease call may wait: <see cref="AcquireAsync"/>'s response timeout. Queue timeouts stay below it.</summary>
    public const string AcquireTimeout = "00:30:00";

    /// <summary>
    /// Waits for a lease. Completes with <see cref="LeaseOutcome.Granted"/> once a replica has room, or with the reason
    /// the request was refused; the grain itself ends the wait at the model's queue timeout. Cancelling
    /// <paramref name="cancellationToken"/> (the client went away) removes the request from the wait list and throws
    /// <see cref="OperationCanceledException"/>; <see cref="AbandonAsync"/> does the same for a caller that holds no
    /// call to cancel, and costs the grain less: Orleans finds a call to cancel by looking through every call running on
    /// the activation, so many waiters cancelled at once cost time in the square of their number (100,000 took half a
    /// minute of the grain's time). The same request sent again (its caller re-submits it while the earlier call is
    /// still on its way) replaces the earlier call, which is answered <see cref="LeaseOutcome.Stopping"/>; of two, the
    /// one that has already waited longer is kept.
    /// A granted lease must be given back with <see cref="ReleaseAsync"/>.
    /// </summary>
    [Alias("Acquire"), ResponseTimeout(AcquireTimeout)]
    Task<LeaseGrant> AcquireAsync(LeaseRequest request, CancellationToken cancellationToken);

    /// <summary>
    /// The caller gave up request <paramref name="requestId"/> (its client went away; sent after it cancelled its
    /// <see cref="AcquireAsync"/>): a waiter still in the wait list leaves it (its call throws
    /// <see cref="OperationCanceledException"/>), a lease granted while this was on its way (so nobody will use or
    /// release it) is released, and a request not here yet is turned away when its call arrives. Idempotent.
    /// </summary>
    [Alias("Abandon")]
    Task AbandonAsync(string requestId, CancellationToken cancellationToken);

    /// <summary>
    /// Ends a lease. Releasing an unknown or already released lease does nothing. One-way: its caller has nothing to wait
    /// for (no answer message, callback or timeout per request), and a release lost on the way is made good by the holder
    /// reconciliation (<see cref="RenewAsync"/>: a lease its holder no longer lists is taken back after the holder expiry).
    /// A later call from the same caller may overtake it.
    /// </summary>
    [Alias("Release"), OneWay]
    Task ReleaseAsync(LeaseRelease release, CancellationToken cancellationToken);

    /// <summary>
    /// Keeps a Frontend's waiters and leases on this model alive (those of a holder silent for the holder expiry are
    /// dropped as <see cref="LeaseEndReason.HolderLost"/>), adopts the listed leases this activation does not know and
    /// names the waiting requests it does not know. Idempotent.
    /// </summary>
    [Alias("Renew")]
    Task<RenewalResult> RenewAsync(LeaseRenewal renewal, CancellationToken cancellationToken);

    /// <summary>Which of <paramref name="leaseIds"/> this activation holds now (a token grain checks its counts).</summary>
    [Alias("FindLeases")]
    Task<IReadOnlyList<string>> FindLeasesAsync(IReadOnlyList<string> leaseIds, CancellationToken cancellationToken);

    /// <summary>Requests in the wait list now (cheaper than <see cref="GetSnapshotAsync"/>).</summary>
    [Alias("GetWaitingCount")]
    Task<int> GetWaitingCountAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Told by a <see cref="IBackendGrain"/> of this model whenever that replica's state changes. One-way: the backend
    /// grain never waits on a model grain (which may itself be waiting on it while it activates).
    /// </summary>
    [Alias("OnBackendChanged"), OneWay]
    Task OnBackendChangedAsync(BackendSnapshot snapshot, CancellationToken cancellationToken);

    /// <summary>
    /// Told by the token's grain that one of <paramref name="tokenId"/>'s in-flight slots freed (after this model was
    /// refused one), so requests of that token held back by its limit may ask again.
    /// </summary>
    [Alias("OnTokenReleased"), OneWay]
    Task OnTokenReleasedAsync(string tokenId, CancellationToken cancellationToken);

    /// <summary>The model's wait list and leases as they are now, for inspection and tests.</summary>
    [Alias("GetSnapshot")]
    Task<ModelSnapshot> GetSnapshotAsync(CancellationToken cancellationToken);
}
