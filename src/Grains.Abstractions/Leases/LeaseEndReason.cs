namespace Dispatcher.Grains.Abstractions.Leases;

/// <summary>Why a lease ended.</summary>
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
    /// The silo handed its model over to another silo: the request goes on, and its frontend registers the lease
    /// with the new owner (<see cref="Models.IModelGrain.AdoptAsync"/>).
    /// </summary>
    Moved,
}
