namespace Dispatcher.Grains.Abstractions.Leases;

/// <summary>Why a lease ended.</summary>
[GenerateSerializer, Alias("dispatcher.LeaseEndReason")]
public enum LeaseEndReason
{
    /// <summary>The response was forwarded to its end (whatever its status).</summary>
    Completed,

    /// <summary>The client went away; the upstream request was aborted.</summary>
    ClientAborted,

    /// <summary>The replica broke the response or did not answer in time.</summary>
    UpstreamFailed,

    /// <summary>The replica could not be reached at all (nothing was sent to the client): it is ejected.</summary>
    UpstreamUnreachable,

    /// <summary>The lease outlived the maximum lease lifetime and was taken back by the model grain.</summary>
    Expired,

    /// <summary>
    /// The Frontend holding the lease stopped renewing it (it crashed or lost the cluster): the model grain took it
    /// back after the holder expiry.
    /// </summary>
    HolderLost,

    /// <summary>
    /// Granted at once, then refused by its token's grain (revoked, over its threshold) or sent back because its silo
    /// stops, before the grant was answered: never used. Only the model grain ends a lease so.
    /// </summary>
    Unused,
}
