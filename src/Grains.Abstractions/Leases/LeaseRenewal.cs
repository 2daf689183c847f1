namespace Dispatcher.Grains.Abstractions.Leases;

/// <summary>
/// What one Frontend holds at one model grain, sent about every second: the model grain keeps the holder's waiters and
/// leases alive, adopts the leases it does not know and says which waiting requests it does not know.
/// </summary>
/// <param name="HolderId">The Frontend's id (<see cref="LeaseRequest.HolderId"/>).</param>
/// <param name="Leases">Every lease the holder runs on this model now.</param>
/// <param name="Waiting">The request ids the holder waits for on this model, sent long enough ago to have arrived.</param>
[GenerateSerializer, Immutable, Alias("dispatcher.LeaseRenewal")]
public sealed record LeaseRenewal(string HolderId, IReadOnlyList<LeaseAdoption> Leases, IReadOnlyList<string> Waiting);
