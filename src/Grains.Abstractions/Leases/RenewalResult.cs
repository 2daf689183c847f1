namespace Dispatcher.Grains.Abstractions.Leases;

/// <summary>The model grain's answer to a <see cref="LeaseRenewal"/>.</summary>
/// <param name="UnknownWaiting">
/// Waiting request ids this activation neither waits on nor leased: their calls went to an activation that is gone.
/// The holder abandons those calls and submits the requests again, in their original order.
/// </param>
/// <param name="RefusedLeases">Lease ids that could not be adopted (their replica is not one of the model's).</param>
[GenerateSerializer, Immutable, Alias("dispatcher.RenewalResult")]
public sealed record RenewalResult(IReadOnlyList<string> UnknownWaiting, IReadOnlyList<string> RefusedLeases);
