namespace Dispatcher.Grains.Abstractions.Leases;

/// <summary>How a lease request ended. Expected refusals are values, not exceptions.</summary>
[GenerateSerializer, Alias("dispatcher.LeaseOutcome")]
public enum LeaseOutcome
{
    /// <summary>A replica was chosen; the lease runs until released.</summary>
    Granted,

    /// <summary>The token already has as many requests waiting as its threshold allows.</summary>
    OverThreshold,

    /// <summary>The request waited longer than the model's queue timeout.</summary>
    QueueTimeout,

    /// <summary>The model has no healthy replica.</summary>
    NoHealthyBackend,

    /// <summary>
    /// The token is not (or no longer) known when the request is queued: revoked after a frontend authenticated it
    /// from its short-lived cache.
    /// </summary>
    TokenRejected,

    /// <summary>The token's policy could not be read when the request was queued (the token store is unreachable).</summary>
    TokenStoreUnavailable,

    /// <summary>
    /// No silo could take the request: the model's silo is unreachable and no other silo took the model over
    /// within the failover timeout. Only a Frontend answers this, never a grain.
    /// </summary>
    SiloUnavailable,

    /// <summary>
    /// The silo hosting the model grain is stopping: the request was taken out of the wait list at once and should be
    /// submitted again (it then reaches the grain's next activation, on another silo). Retryable.
    /// </summary>
    Stopping,
}
