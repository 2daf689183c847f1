using Dispatcher.Grains.Abstractions.Leases;

namespace Dispatcher.Grains.Abstractions.Tokens;

/// <summary>
/// One per API token (key: <see cref="TokenHash.Compute"/> of the secret; the secret itself never reaches a
/// grain). Caches the token's policy and counts its waiting and in-flight requests across all models.
/// </summary>
public interface ITokenGrain : IGrainWithStringKey
{
    /// <summary>The token's policy, or why there is none.</summary>
    Task<TokenLookup> GetPolicyAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Counts one more waiting request unless the token already has <see cref="TokenPolicy.Threshold"/> waiting;
    /// says why when it does not (over the threshold, token unknown, policy unreadable).
    /// </summary>
    Task<WaitAdmission> TryEnterWaitingAsync(CancellationToken cancellationToken);

    /// <summary>A waiting request left the wait list: granted (it is now in flight) or abandoned.</summary>
    Task LeaveWaitingAsync(bool granted, CancellationToken cancellationToken);

    /// <summary>Counts one more in-flight request whose lease was granted elsewhere and adopted here.</summary>
    Task AdoptInFlightAsync(CancellationToken cancellationToken);

    /// <summary>An in-flight request ended.</summary>
    Task ReleaseAsync(LeaseUsage? usage, CancellationToken cancellationToken);

    /// <summary>Drops the cached policy: the token changed or was revoked in the store.</summary>
    Task InvalidateAsync(CancellationToken cancellationToken);

    /// <summary>The token's counters as they are now.</summary>
    Task<TokenCounters> GetCountersAsync(CancellationToken cancellationToken);
}
