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

    /// <summary>The service order's key: the smallest is served first. Fair: the start tag in virtual time.</summary>
    public long Key { get; set; }

    /// <summary>Fair order only: the virtual time at which this request's share of service ends.</summary>
    public long FinishTag { get; set; }

    /// <summary>Fair order only: the units of service charged at arrival (corrected at release in token mode).</summary>
    public long Cost { get; set; }

    /// <summary>
    /// Completed by the grain with the grant or refusal, or cancelled from the caller's token on any thread.
    /// Whichever comes first wins; the grain checks the result of TrySetResult.
    /// </summary>
    public TaskCompletionSource<LeaseGrant> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
}
