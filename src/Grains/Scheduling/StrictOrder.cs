namespace Dispatcher.Grains.Scheduling;

/// <summary>
/// Priority order with aging: a waiting request's effective priority doubles every <c>agingInterval</c>, so
/// any priority gap closes in a bounded time (a 1000-fold gap in 10 intervals) and the lowest priority still
/// progresses. Comparing <c>p·2^(waited/a)</c> between two requests at any instant is comparing
/// <c>arrival - log2(p)·a</c>, a key fixed when the request reaches its token's front.
/// </summary>
internal sealed class StrictOrder(TimeSpan agingInterval, TimeProvider time) : ServiceOrder
{
    private readonly double _agingTicks = Math.Max(1, agingInterval.TotalSeconds * time.TimestampFrequency);

    public override long KeyAtFront(Waiter front, Flow flow) =>
        front.EnqueuedTimestamp - (long)(Math.Log2(front.Request.Priority) * _agingTicks);
}
