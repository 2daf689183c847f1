using Dispatcher.Grains.Abstractions.Leases;

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
    /// <paramref name="leaseId"/> (it is now in flight) or, when null, abandoned.
    /// </summary>
    [Alias("LeaveWaiting")]
    Task LeaveWaitingAsync(string model, string requestId, string? leaseId, CancellationToken cancellationToken);

    /// <summary>Counts a running lease of <paramref name="model"/> granted elsewhere and adopted there. Idempotent.</summary>
    [Alias("AdoptInFlight")]
    Task AdoptInFlightAsync(string model, string leaseId, CancellationToken cancellationToken);

    /// <summary>An in-flight request ended. Releasing an unknown lease does nothing.</summary>
    [Alias("Release")]
    Task ReleaseAsync(string leaseId, LeaseUsage? usage, CancellationToken cancellationToken);

    /// <summary>Drops the cached policy: the token changed or was revoked in the store.</summary>
    [Alias("Invalidate")]
    Task InvalidateAsync(CancellationToken cancellationToken);

    /// <summary>The token's counters as they are now.</summary>
    [Alias("GetCounters")]
    Task<TokenCounters> GetCountersAsync(CancellationToken cancellationToken);
}
