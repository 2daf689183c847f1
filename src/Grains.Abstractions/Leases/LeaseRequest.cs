namespace Dispatcher.Grains.Abstractions.Leases;

/// <summary>A request asking for a lease on one of a model's replicas.</summary>
/// <param name="RequestId">The dispatcher's id of the HTTP request, for logs and correlation.</param>
/// <param name="TokenId">The token's id: the lowercase hex SHA-256 of its secret, the token grain's key.</param>
/// <param name="Priority">The weight the request is served with (at least 1; higher is served sooner).</param>
/// <param name="MaxInFlight">The most leases the token may hold at once across models; null for no limit.</param>
/// <param name="AlreadyWaited">
/// Time the request already spent waiting elsewhere: a frontend re-submitting it after its model moved to another
/// silo sets it, so the request keeps its deadline and its wait is reported whole. Zero for a new request.
/// </param>
public sealed record LeaseRequest(string RequestId, string TokenId, int Priority, int? MaxInFlight = null, TimeSpan AlreadyWaited = default);
