namespace Dispatcher.Grains.Abstractions.Leases;

/// <summary>
/// A lease its holder still runs, as listed in a renewal. A model grain that does not know it (it was activated again
/// after the silo of the activation that granted it died) adopts it: the replica and the token count it until it is
/// released.
/// </summary>
/// <param name="LeaseId">The id the lease was granted with; kept, so the Frontend releases it as before.</param>
/// <param name="RequestId">The dispatcher's id of the HTTP request.</param>
/// <param name="TokenId">The token it was granted to.</param>
/// <param name="Priority">The weight it was served with.</param>
/// <param name="MaxInFlight">The token's in-flight limit, if any.</param>
/// <param name="Backend">The replica the request runs on.</param>
/// <param name="Held">How long the lease has been held.</param>
[GenerateSerializer, Immutable, Alias("dispatcher.LeaseAdoption")]
public sealed record LeaseAdoption(string LeaseId, string RequestId, string TokenId, int Priority, int? MaxInFlight, Uri Backend, TimeSpan Held);
