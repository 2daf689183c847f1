using Dispatcher.Grains.Abstractions.Configuration;
using Dispatcher.Grains.Abstractions.Leases;
using Dispatcher.Grains.Scheduling;

namespace Dispatcher.Grains.Tests.Scheduling;

public sealed class WaitListTests
{
    private static Waiter NewWaiter(int priority, long sequence, string token = "t", long timestamp = 0) =>
        new(new LeaseRequest($"r{sequence}", token, priority), sequence, timestamp, DateTimeOffset.MaxValue);

    private static WaitList Strict(TimeProvider? time = null) =>
        new(ServiceOrder.Create(new SchedulingOptions { Policy = SchedulingPolicy.Strict }, time ?? new FakeTimeProvider()));

    private static List<long> Drain(WaitList list)
    {
        var order = new List<long>();
        while (list.TryPeekNext(out var next))
        {
            list.Grant(next);
            order.Add(next.Sequence);
            Assert.False(next.IsWaiting);
        }

        return order;
    }

    [Fact]
    public void Strict_SameArrivalTime_TakesHighestFirstThenFifo()
    {
        var list = Strict();
        foreach (var waiter in new[] { NewWaiter(1, 1, "a"), NewWaiter(3, 2, "b"), NewWaiter(1, 3, "c"), NewWaiter(3, 4, "d"), NewWaiter(2, 5, "e") })
        {
            list.Add(waiter);
        }

        Assert.Equal([2, 4, 5, 1, 3], Drain(list));
        Assert.Equal(0, list.Count);
    }

    [Fact]
    public void AnyOrder_OneToken_IsServedFirstInFirstOut()
    {
        var list = Strict();
        list.Add(NewWaiter(1, 1));
        list.Add(NewWaiter(5, 2));
        list.Add(NewWaiter(3, 3));

        Assert.Equal([1, 2, 3], Drain(list));
    }

    [Fact]
    public void Strict_LowPriorityWaitedLongEnough_IsServedBeforeNewHighPriority()
    {
        var time = new FakeTimeProvider();
        var list = Strict(time);
        var aging = TimeSpan.FromSeconds(5).Ticks; // FakeTimeProvider timestamps are ticks
        var gap = (long)(Math.Log2(8) * aging);    // priority 1 ages to 8 after three doublings
        list.Add(NewWaiter(priority: 1, sequence: 1, token: "low", timestamp: 0));
        list.Add(NewWaiter(priority: 8, sequence: 2, token: "early", timestamp: gap - 1));
        list.Add(NewWaiter(priority: 8, sequence: 3, token: "late", timestamp: gap + 1));

        // After 3 intervals the priority-1 request counts as priority 8: it beats a later arrival, not an earlier one.
        Assert.Equal([2, 1, 3], Drain(list));
    }

    [Fact]
    public void Remove_ManyWaiters_SkipsRemovedAndKeepsCountExact()
    {
        var list = Strict();
        var waiters = Enumerable.Range(0, 1000).Select(i => NewWaiter(1 + (i % 3), i, $"t{i % 3}")).ToList();
        waiters.ForEach(list.Add);

        foreach (var waiter in waiters.Where(w => w.Sequence % 4 != 0))
        {
            list.Remove(waiter);
            list.Remove(waiter);
        }

        Assert.Equal(250, list.Count);
        var taken = Drain(list).Select(s => waiters[(int)s]).ToList();
        Assert.Equal(250, taken.Count);
        Assert.All(taken, w => Assert.Equal(0, w.Sequence % 4));
        Assert.Equal(taken.OrderByDescending(w => w.Request.Priority).ThenBy(w => w.Sequence), taken);
    }
}
