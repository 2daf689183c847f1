using Dispatcher.Grains.Abstractions.Leases;

namespace Dispatcher.Grains.Scheduling;

/// <summary>One request in a model's wait list. Mutated only inside the model grain's turns.</summary>
internal sealed class Waiter(LeaseRequest request, long sequence, long enqueuedTimestamp, DateTimeOffset deadline)
{
    public LeaseRequest Request { get; } = request;

    /// <summary>Arrival order within the model; breaks ties FIFO.</summary>
    public long Sequence { get; } = sequence;

    /// <summary><see cref="TimeProvider.GetTimestamp"/> at arrival, to measure the wait (and to age, in strict mode).</summary>
    public long EnqueuedTimestamp { get; } = enqueuedTimestamp;

    /// <summary>When the request times out.</summary>
    public DateTimeOffset Deadline { get; } = deadline;

    /// <summary>True while the waiter is in the wait list; false once granted, timed out or cancelled.</summary>
    public bool IsWaiting { get; set; } = true;

    /// <summary>The key the service order gave it at the front of its token's queue (fair: its start tag).</summary>
    public long Key { get; set; }

    /// <summary>The units of service it is charged (fair order; corrected at release in token mode).</summary>
    public long Cost { get; set; } = 1;

    /// <summary>
    /// Replaced by the same request sent again: its call is answered, but the token's count of the request now belongs
    /// to the call that replaced it.
    /// </summary>
    public bool Superseded { get; set; }

    /// <summary>Where it stands with its token's in-flight limit (only for a token that has one).</summary>
    public TokenSlot TokenSlot { get; set; }

    /// <summary>
    /// Completed by the grain with the grant or refusal, or cancelled from the caller's token on any thread.
    /// Whichever comes first wins; the grain checks the result of TrySetResult.
    /// </summary>
    public TaskCompletionSource<LeaseGrant> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
}

/// <summary>A waiting request's in-flight slot at its token's grain, which keeps the limit for the whole cluster.</summary>
internal enum TokenSlot
{
    /// <summary>Not asked for yet, or refused (the token's grain tells the model when one frees).</summary>
    None,

    /// <summary>Asked for; the answer is on its way.</summary>
    Asked,

    /// <summary>Taken: the request may be granted.</summary>
    Held,
}
