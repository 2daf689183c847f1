namespace Dispatcher.Grains.Abstractions.Leases;

/// <summary>
/// A lease granted by an earlier activation of the model grain (on a silo that died or handed the model over)
/// whose request still runs: the new activation takes it into account until it is released.
/// </summary>
/// <param name="LeaseId">The id the lease was granted with; kept, so the frontend releases it as before.</param>
/// <param name="RequestId">The dispatcher's id of the HTTP request.</param>
/// <param name="TokenId">The token it was granted to.</param>
/// <param name="Priority">The weight it was served with.</param>
/// <param name="MaxInFlight">The token's in-flight limit, if any.</param>
/// <param name="Backend">The replica the request runs on.</param>
/// <param name="Held">How long the lease has been held.</param>
public sealed record LeaseAdoption(string LeaseId, string RequestId, string TokenId, int Priority, int? MaxInFlight, Uri Backend, TimeSpan Held);
