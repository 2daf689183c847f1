using Dispatcher.Grains.Abstractions.Configuration;
using Dispatcher.Grains.Abstractions.Leases;
using Dispatcher.Grains.Scheduling;

namespace Dispatcher.Grains.Tests.Scheduling;

/// <summary>
/// Start-time fair queuing, driven as the model grain drives it: grant the front, release its lease, and
/// queue the token's next request behind.
/// </summary>
public sealed class FairOrderTests
{
    private long _sequence;

    private Waiter NewWaiter(string token, int weight) => new(new LeaseRequest($"r{_sequence}", token, weight), ++_sequence, 0, DateTimeOffset.MaxValue);

    private static WaitList Fair(FairnessMeasure measure = FairnessMeasure.Requests) => new(new FairOrder(measure));

    /// <summary>Keeps <paramref name="backlog"/> requests of every token waiting and counts grants by token.</summary>
    private Dictionary<string, int> RunSaturated(WaitList list, (string Token, int Weight)[] tokens, int grants, int backlog = 5,
        Func<string, int>? tokensGenerated = null)
    {
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
            var request = next.Request;
            counts[request.TokenId]++;
            list.Released(request.TokenId, request.Priority, next.Cost, tokensGenerated?.Invoke(request.TokenId));
            list.Add(NewWaiter(request.TokenId, request.Priority));
        }

        return counts;
    }

    [Fact]
    public void Saturated_Weights1And2And7_GrantsProportionalWithinOnePercent()
    {
        var counts = RunSaturated(Fair(), [("a", 1), ("b", 2), ("c", 7)], grants: 100_000);

        Assert.InRange(counts["a"] / 100_000.0, 0.09, 0.11);
        Assert.InRange(counts["b"] / 100_000.0, 0.19, 0.21);
        Assert.InRange(counts["c"] / 100_000.0, 0.69, 0.71);
    }

    [Fact]
    public void Saturated_Weights1And10_LowWeightServedOncePerElevenGrants()
    {
        var list = Fair();
        var counts = RunSaturated(list, [("high", 10), ("low", 1)], grants: 110);

        Assert.InRange(counts["low"], 9, 11);
    }

    [Fact]
    public void IdleToken_ReturnsAfterOthersWereServed_BanksNoCredit()
    {
        var list = Fair();
        RunSaturated(list, [("busy", 1)], grants: 10_000);

        var counts = RunSaturated(list, [("busy", 1), ("late", 1)], grants: 1_000, backlog: 1);

        // Had "late" banked credit for its 10 000 idle grants it would take nearly all of these.
        Assert.InRange(counts["late"], 490, 510);
    }

    [Fact]
    public void TokenMeasure_EqualWeightsDifferentLengths_ShareGeneratedTokensNotRequests()
    {
        var counts = RunSaturated(Fair(FairnessMeasure.Tokens), [("long", 1), ("short", 1)], grants: 22_000,
            tokensGenerated: token => token == "long" ? 100 : 10);

        var longTokens = counts["long"] * 100.0;
        var shortTokens = counts["short"] * 10.0;
        Assert.InRange(longTokens / (longTokens + shortTokens), 0.47, 0.53);
    }

    [Fact]
    public void AbandonedRequests_AreNotChargedToTheirToken()
    {
        var list = Fair();
        var abandoned = new List<Waiter>();
        for (var i = 0; i < 1000; i++)
        {
            var waiter = NewWaiter("flaky", 1);
            abandoned.Add(waiter);
            list.Add(waiter);
        }

        abandoned.ForEach(list.Remove);
        var counts = RunSaturated(list, [("flaky", 1), ("steady", 1)], grants: 1_000);

        Assert.InRange(counts["flaky"], 495, 505);
        Assert.Equal(0, list.Count - 10);
    }

    [Fact]
    public void Flows_AllServedAndReleased_AreForgottenOnceBehindVirtualTime()
    {
        var list = Fair();
        var waiters = Enumerable.Range(0, 50).Select(i => NewWaiter($"t{i % 5}", 1 + (i % 3))).ToList();
        waiters.ForEach(list.Add);
        while (list.TryPeekNext(out var next))
        {
            list.Grant(next);
        }

        waiters.ForEach(w => list.Released(w.Request.TokenId, w.Request.Priority, w.Cost, null));
        Assert.InRange(list.FlowCount, 0, 5);

        RunSaturated(list, [("other", 1)], grants: 5_000, backlog: 1);
        Assert.Equal(1, list.FlowCount);
    }
}
