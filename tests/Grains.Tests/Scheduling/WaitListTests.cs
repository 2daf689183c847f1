using Dispatcher.Grains.Abstractions.Leases;
using Dispatcher.Grains.Scheduling;

namespace Dispatcher.Grains.Tests.Scheduling;

public sealed class WaitListTests
{
    private static Waiter NewWaiter(int priority, long sequence) =>
        new(new LeaseRequest($"r{sequence}", "token", priority), sequence, 0, DateTimeOffset.MaxValue);

    [Fact]
    public void TryTakeNext_MixedPriorities_TakesHighestFirstThenFifo()
    {
        var list = new WaitList();
        var waiters = new[] { NewWaiter(1, 1), NewWaiter(3, 2), NewWaiter(1, 3), NewWaiter(3, 4), NewWaiter(2, 5) };
        foreach (var waiter in waiters)
        {
            list.Add(waiter);
        }

        var order = new List<long>();
        while (list.TryTakeNext(out var next))
        {
            order.Add(next.Sequence);
            Assert.False(next.IsWaiting);
        }

        Assert.Equal([2, 4, 5, 1, 3], order);
        Assert.Equal(0, list.Count);
    }

    [Fact]
    public void Remove_ManyWaiters_SkipsRemovedAndKeepsCountExact()
    {
        var list = new WaitList();
        var waiters = Enumerable.Range(0, 1000).Select(i => NewWaiter(1 + (i % 3), i)).ToList();
        waiters.ForEach(list.Add);

        foreach (var waiter in waiters.Where(w => w.Sequence % 4 != 0))
        {
            list.Remove(waiter);
            list.Remove(waiter);
        }

        Assert.Equal(250, list.Count);
        var taken = new List<Waiter>();
        while (list.TryTakeNext(out var next))
        {
            taken.Add(next);
        }

        Assert.Equal(250, taken.Count);
        Assert.All(taken, w => Assert.Equal(0, w.Sequence % 4));
        Assert.Equal(taken.OrderByDescending(w => w.Request.Priority).ThenBy(w => w.Sequence), taken);
    }
}
