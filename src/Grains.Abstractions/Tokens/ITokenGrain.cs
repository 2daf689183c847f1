using Dispatcher.Grains.Abstractions.Leases;
using Orleans.Concurrency;

namespace Dispatcher.Grains.Abstractions.Tokens;

/// <summary>
/// One per API token (key: <see cref="TokenHash.Compute"/> of the secret; the secret itself never reaches a grain),
/// one activation in the whole cluster. Caches the token's policy and counts its waiting and in-flight requests across
/// all models and silos. Waiting requests are counted by request id and in-flight ones by lease id, so counting one
/// twice (a request submitted again, a lease adopted after a failover) is harmless; counts that died with a model
/// grain's activation are dropped (waits older than the longest queue timeout, leases their model no longer holds).
/// The in-flight limit is kept here for the whole cluster: a waiting request takes a slot
/// (<see cref="TryTakeSlotAsync"/>) before its model grain grants it.
/// </summary>
[Alias("dispatcher.ITokenGrain")]
public interface ITokenGrain : IGrainWithStringKey
{
    /// <summary>The token's policy, or why there is none.</summary>
    [Alias("GetPolicy")]
    Task<TokenLookup> GetPolicyAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Counts one more waiting request unless the token already has <see cref="TokenPolicy.Threshold"/> waiting;
    /// says why when it does not (over the threshold, token unknown, policy unreadable).
    /// </summary>
    [Alias("TryEnterWaiting")]
    Task<WaitAdmission> TryEnterWaitingAsync(string requestId, CancellationToken cancellationToken);

    /// <summary>
    /// Request <paramref name="requestId"/> was granted by <paramref name="model"/> at once, as <paramref name="leaseId"/>
    /// (nobody waited there and a replica had room): admitted as <see cref="TryEnterWaitingAsync"/> would and, when
    /// admitted, counted in flight at once, as <see cref="LeaveWaitingAsync"/> with its lease would. One call instead of
    /// those two; a refused request's lease is given back unused by its model grain.
    /// </summary>
    [Alias("TryStart")]
    Task<WaitAdmission> TryStartAsync(string model, string requestId, string leaseId, CancellationToken cancellationToken);

    /// <summary>
    /// Takes one of the token's <see cref="TokenPolicy.MaxInFlight"/> slots for waiting request
    /// <paramref name="requestId"/> of <paramref name="model"/>, which may then be granted (the slot becomes its lease's
    /// in <see cref="LeaveWaitingAsync"/>, or is given back there when it leaves without one). False when every slot is
    /// taken, in the whole cluster: <paramref name="model"/> is then told through
    /// <see cref="Models.IModelGrain.OnTokenReleasedAsync"/> when one frees. True at once for a token without a limit.
    /// Asking again for a request that holds a slot is harmless.
    /// </summary>
    [Alias("TryTakeSlot")]
    Task<bool> TryTakeSlotAsync(string model, string requestId, CancellationToken cancellationToken);

    /// <summary>
    /// Request <paramref name="requestId"/> left <paramref name="model"/>'s wait list: granted as
    /// <paramref name="leaseId"/> (it is now in flight) or, when null, abandoned. One-way: its caller has nothing to wait
    /// for, and a count lost on the way heals by itself (a wait is dropped after the longest queue timeout).
    /// </summary>
    [Alias("LeaveWaiting"), OneWay]
    Task LeaveWaitingAsync(string model, string requestId, string? leaseId, CancellationToken cancellationToken);

    /// <summary>Counts a running lease of <paramref name="model"/> granted elsewhere and adopted there. Idempotent.</summary>
    [Alias("AdoptInFlight")]
    Task AdoptInFlightAsync(string model, string leaseId, CancellationToken cancellationToken);

    /// <summary>
    /// An in-flight request ended. Releasing an unknown lease does nothing. One-way: its caller has nothing to wait for,
    /// and a release lost on the way heals by itself (the grain asks the models which of its leases they still hold).
    /// </summary>
    [Alias("Release"), OneWay]
    Task ReleaseAsync(string leaseId, LeaseUsage? usage, CancellationToken cancellationToken);

    /// <summary>Drops the cached policy: the token changed or was revoked in the store.</summary>
    [Alias("Invalidate")]
    Task InvalidateAsync(CancellationToken cancellationToken);

    /// <summary>The token's counters as they are now.</summary>
    [Alias("GetCounters")]
    Task<TokenCounters> GetCountersAsync(CancellationToken cancellationToken);
}
