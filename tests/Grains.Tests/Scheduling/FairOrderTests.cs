using Dispatcher.Grains.Abstractions.Configuration;
using Dispatcher.Grains.Abstractions.Leases;
using Dispatcher.Grains.Scheduling;

namespace Dispatcher.Grains.Tests.Scheduling;

/// <summary>
/// Start-time fair queuing, driven as the model grain drives it: a fixed number of servers, each grant served
/// for one step, released, and the token's next request queued behind.
/// </summary>
public sealed class FairOrderTests
{
    private long _sequence;

    private Waiter NewWaiter(string token, int weight) => new(new LeaseRequest($"r{_sequence}", token, weight), ++_sequence, 0, DateTimeOffset.MaxValue);

    /// <summary>Keeps <paramref name="backlog"/> requests of every token waiting and counts grants by token.</summary>
    private Dictionary<string, int> RunSaturated(FairOrder order, (string Token, int Weight)[] tokens, int grants, int backlog = 5,
        Func<string, int>? tokensGenerated = null)
    {
        var list = new WaitList(order);
        foreach (var (token, weight) in tokens)
        {
            for (var i = 0; i < backlog; i++)
            {
                list.Add(NewWaiter(token, weight));
            }
        }

        var counts = tokens.ToDictionary(t => t.Token, _ => 0);
        for (var i = 0; i < grants; i++)
        {
            Assert.True(list.TryPeekNext(out var next));
            list.Grant(next);
            counts[next.Request.TokenId]++;
            order.OnReleased(next.Request.TokenId, next.Request.Priority, next.Cost, tokensGenerated?.Invoke(next.Request.TokenId));
            list.Add(NewWaiter(next.Request.TokenId, next.Request.Priority));
        }

        return counts;
    }

    [Fact]
    public void Saturated_Weights1And2And7_GrantsProportionalWithinOnePercent()
    {
        var counts = RunSaturated(new FairOrder(FairnessMeasure.Requests), [("a", 1), ("b", 2), ("c", 7)], grants: 100_000);

        Assert.InRange(counts["a"] / 100_000.0, 0.09, 0.11);
        Assert.InRange(counts["b"] / 100_000.0, 0.19, 0.21);
        Assert.InRange(counts["c"] / 100_000.0, 0.69, 0.71);
    }

    [Fact]
    public void Saturated_Weights1And10_LowWeightIsNeverStarved()
    {
        var list = new WaitList(new FairOrder(FairnessMeasure.Requests));
        var low = NewWaiter("low", 1);
        list.Add(low);
        var grantsBeforeLow = 0;
        for (var i = 0; i < 1000 && low.IsWaiting; i++)
        {
            list.Add(NewWaiter("high", 10));
            Assert.True(list.TryPeekNext(out var next));
            list.Grant(next);
            list.Order.OnReleased(next.Request.TokenId, next.Request.Priority, next.Cost, null);
            grantsBeforeLow += next == low ? 0 : 1;
        }

        Assert.False(low.IsWaiting, "the weight-1 request was starved");
        Assert.InRange(grantsBeforeLow, 0, 10);
    }

    [Fact]
    public void IdleToken_ReturnsAfterOthersWereServed_BanksNoCredit()
    {
        var order = new FairOrder(FairnessMeasure.Requests);
        RunSaturated(order, [("busy", 1)], grants: 10_000);

        var counts = RunSaturated(order, [("busy", 1), ("late", 1)], grants: 1_000);

        // Had "late" banked credit for its 10 000 idle grants it would take nearly all of these.
        Assert.InRange(counts["late"], 490, 510);
    }

    [Fact]
    public void TokenMeasure_EqualWeightsDifferentLengths_ShareGeneratedTokensNotRequests()
    {
        var counts = RunSaturated(new FairOrder(FairnessMeasure.Tokens), [("long", 1), ("short", 1)], grants: 22_000,
            tokensGenerated: token => token == "long" ? 100 : 10);

        var longTokens = counts["long"] * 100.0;
        var shortTokens = counts["short"] * 10.0;
        Assert.InRange(longTokens / (longTokens + shortTokens), 0.47, 0.53);
    }

    [Fact]
    public void Abandon_LatestRequestOfItsToken_GivesItsReservationBack()
    {
        var order = new FairOrder(FairnessMeasure.Requests);
        var list = new WaitList(order);
        var first = NewWaiter("a", 1);
        var second = NewWaiter("a", 1);
        list.Add(first);
        list.Add(second);

        list.Remove(second);
        var third = NewWaiter("a", 1);
        list.Add(third);

        Assert.Equal(second.Key, third.Key);
        Assert.Equal(1, order.FlowCount);
    }

    [Fact]
    public void Flows_AllServedAndReleased_AreForgotten()
    {
        var order = new FairOrder(FairnessMeasure.Requests);
        var list = new WaitList(order);
        var waiters = Enumerable.Range(0, 50).Select(i => NewWaiter($"t{i % 5}", 1 + (i % 3))).ToList();
        waiters.ForEach(list.Add);
        while (list.TryPeekNext(out var next))
        {
            list.Grant(next);
        }

        foreach (var waiter in waiters)
        {
            order.OnReleased(waiter.Request.TokenId, waiter.Request.Priority, waiter.Cost, null);
        }

        // Flows whose finish tag is still ahead of virtual time are kept, but nothing grows without bound.
        Assert.InRange(order.FlowCount, 0, 5);
        list.Add(NewWaiter("x", 1));
        Assert.True(list.TryPeekNext(out var x));
        list.Grant(x);
        order.OnReleased("x", 1, x.Cost, null);
    }
}
