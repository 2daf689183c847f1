namespace Dispatcher.Grains.Abstractions.Leases;

/// <summary>A request asking for a lease on one of a model's replicas.</summary>
/// <param name="RequestId">The dispatcher's id of the HTTP request, for logs, correlation and renewal.</param>
/// <param name="TokenId">The token's id: the lowercase hex SHA-256 of its secret, the token grain's key.</param>
/// <param name="Priority">The weight the request is served with (at least 1; higher is served sooner).</param>
/// <param name="MaxInFlight">The most leases the token may hold at once across models; null for no limit.</param>
/// <param name="AlreadyWaited">
/// Time the request already spent waiting elsewhere: a Frontend re-submitting it after the model grain's silo died
/// or stopped sets it, so the request keeps its deadline and its wait is reported whole. Zero for a new request.
/// </param>
/// <param name="HolderId">
/// The Frontend that waits for the lease and will hold it. It renews its waiters and leases
/// (<see cref="Models.IModelGrain.RenewAsync"/>); those of a holder silent for the holder expiry are dropped.
/// Null: never dropped for silence (tests, tools), only at the maximum lease lifetime.
/// </param>
[GenerateSerializer, Immutable, Alias("dispatcher.LeaseRequest")]
public sealed record LeaseRequest(string RequestId, string TokenId, int Priority, int? MaxInFlight = null, TimeSpan AlreadyWaited = default, string? HolderId = null);
