namespace Dispatcher.Grains.Abstractions.Leases;

/// <summary>The model grain's answer to a <see cref="LeaseRenewal"/>.</summary>
/// <param name="UnknownWaiting">
/// Waiting request ids this activation neither waits on nor leased: their calls went to an activation that is gone,
/// or are still on their way. The holder abandons those issued before this activation began (and any left unknown for
/// the failover timeout) and submits the requests again, in their original order.
/// </param>
/// <param name="RefusedLeases">Lease ids that could not be adopted (their replica is not one of the model's).</param>
/// <param name="ActivationAge">
/// How long the answering activation has been running. A call issued after it began cannot be at an activation that
/// is gone: when this one does not know it yet, it is still on its way. Zero from a silo that does not say (an older
/// version during a rolling upgrade): every unknown call is then taken as stuck, as before.
/// </param>
[GenerateSerializer, Immutable, Alias("dispatcher.RenewalResult")]
public sealed record RenewalResult(IReadOnlyList<string> UnknownWaiting, IReadOnlyList<string> RefusedLeases, TimeSpan ActivationAge = default);
