namespace Dispatcher.Grains.Scheduling;

/// <summary>
/// Priority order with aging: a request's effective priority is its priority plus one level per
/// <c>agingInterval</c> waited, so the lowest priority still progresses at a bounded rate. Comparing
/// <c>p + waited/a</c> between two waiters at any instant is comparing <c>arrival - p·a</c>, a key fixed at arrival.
/// </summary>
internal sealed class StrictOrder(TimeSpan agingInterval, TimeProvider time) : ServiceOrder
{
    private readonly long _agingTicks = Math.Max(1, (long)(agingInterval.TotalSeconds * time.TimestampFrequency));

    public override void OnArrival(Waiter waiter) =>
        waiter.Key = waiter.EnqueuedTimestamp - (waiter.Request.Priority * _agingTicks);
}
