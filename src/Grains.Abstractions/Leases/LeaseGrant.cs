namespace Dispatcher.Grains.Abstractions.Leases;

/// <summary>The answer to a <see cref="LeaseRequest"/>.</summary>
/// <param name="Outcome">Granted, or why not.</param>
/// <param name="LeaseId">The lease to release; set only when granted.</param>
/// <param name="Backend">The replica's base address; set only when granted.</param>
/// <param name="Waited">How long the request spent in the wait list.</param>
/// <param name="RetryAfter">A hint for the client when refused for load (threshold, timeout, no replica).</param>
[GenerateSerializer, Immutable, Alias("dispatcher.LeaseGrant")]
public sealed record LeaseGrant(LeaseOutcome Outcome, string? LeaseId, Uri? Backend, TimeSpan Waited, TimeSpan? RetryAfter)
{
    /// <summary>A refusal with a retry hint.</summary>
    public static LeaseGrant Refused(LeaseOutcome outcome, TimeSpan waited, TimeSpan? retryAfter) =>
        new(outcome, null, null, waited, retryAfter);
}
