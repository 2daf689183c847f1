namespace Dispatcher.Grains.Abstractions.Leases;

/// <summary>Gives a lease back, with what is known of the request it served.</summary>
/// <param name="LeaseId">The id from the <see cref="LeaseGrant"/>.</param>
/// <param name="Reason">Why the lease ends.</param>
/// <param name="StatusCode">The upstream HTTP status, when a response started.</param>
/// <param name="Usage">Token counts, when the response reported them.</param>
[GenerateSerializer, Immutable, Alias("dispatcher.LeaseRelease")]
public sealed record LeaseRelease(string LeaseId, LeaseEndReason Reason, int? StatusCode, LeaseUsage? Usage);
