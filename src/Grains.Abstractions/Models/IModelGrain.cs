using Dispatcher.Grains.Abstractions.Backends;
using Dispatcher.Grains.Abstractions.Leases;

namespace Dispatcher.Grains.Abstractions.Models;

/// <summary>
/// One per served model (key: the OpenAI model id). Keeps the model's wait list, grants leases on the
/// model's replicas when one has room, and takes them back when the request ends.
/// </summary>
public interface IModelGrain : IGrainWithStringKey
{
    /// <summary>
    /// Waits for a lease. Completes with <see cref="LeaseOutcome.Granted"/> once a replica has room, or with
    /// the reason the request was refused. Cancelling <paramref name="cancellationToken"/> (the client went
    /// away) removes the request from the wait list at once and throws <see cref="OperationCanceledException"/>.
    /// A granted lease must be given back with <see cref="ReleaseAsync"/>.
    /// </summary>
    Task<LeaseGrant> AcquireAsync(LeaseRequest request, CancellationToken cancellationToken);

    /// <summary>Ends a lease. Releasing an unknown or already released lease does nothing.</summary>
    Task ReleaseAsync(LeaseRelease release, CancellationToken cancellationToken);

    /// <summary>
    /// Takes over a lease granted by an earlier activation of this grain elsewhere (failover or handover), so the
    /// replica's capacity and the token's counters include it until it is released with <see cref="ReleaseAsync"/>.
    /// Returns false when the replica is not one of the model's (the lease is then not tracked). Idempotent.
    /// </summary>
    Task<bool> AdoptAsync(LeaseAdoption adoption, CancellationToken cancellationToken);

    /// <summary>Requests in the wait list now (cheaper than <see cref="GetSnapshotAsync"/>).</summary>
    Task<int> GetWaitingCountAsync(CancellationToken cancellationToken);

    /// <summary>Told by a <see cref="IBackendGrain"/> of this model whenever that replica's state changes.</summary>
    Task OnBackendChangedAsync(BackendSnapshot snapshot, CancellationToken cancellationToken);

    /// <summary>
    /// Told when a lease of <paramref name="tokenId"/> ended somewhere in this silo, so requests of that token held
    /// back by its in-flight limit may go.
    /// </summary>
    Task OnTokenReleasedAsync(string tokenId, CancellationToken cancellationToken);

    /// <summary>The model's wait list and leases as they are now, for inspection and tests.</summary>
    Task<ModelSnapshot> GetSnapshotAsync(CancellationToken cancellationToken);
}
