using Dispatcher.Grains.Abstractions.Configuration;
using Dispatcher.Grains.Abstractions.Leases;
using Dispatcher.Grains.Abstractions.Models;
using Dispatcher.Grains.Abstractions.Tokens;
using Dispatcher.Testing;

namespace Dispatcher.Grains.Tests.Models;

/// <summary>
/// A token's in-flight limit holds its further requests back (they wait, others pass), across models and silos: the
/// token's grain keeps the count for the whole cluster.
/// </summary>
public sealed class InFlightLimitTests
{
    [Fact]
    public async Task AcquireAsync_TokenAtInFlightLimit_WaitsWhileOtherTokensAreServed()
    {
        await using var host = await GrainTestHost.StartAsync(capacity: 4);
        var first = await host.ModelGrain.AcquireAsync(host.Request("capped"), CancellationToken.None);
        var second = await host.EnqueueAsync("capped");

        var other = await host.ModelGrain.AcquireAsync(host.Request("low"), CancellationToken.None);

        Assert.Equal(LeaseOutcome.Granted, other.Outcome);
        Assert.False(second.IsCompleted, "granted beyond the token's in-flight limit");
        Assert.Equal(1, (await host.SnapshotAsync()).Waiting);
        await host.ReleaseAsync(first);
        var granted = await second.WaitAsync(Eventually.Limit);
        Assert.Equal(LeaseOutcome.Granted, granted.Outcome);
        await host.ReleaseAsync(granted);
        await host.ReleaseAsync(other);
        await host.AssertNothingHeldAsync();
    }

    [Fact]
    public async Task AcquireAsync_InFlightLimitAcrossModels_WaitsForTheOtherModelsLease()
    {
        await using var host = await GrainTestHost.StartAsync(capacity: 4);
        var onOther = await host.Other.AcquireAsync(host.Request("capped"), CancellationToken.None);
        Assert.Equal(LeaseOutcome.Granted, onOther.Outcome);

        var here = await host.EnqueueAsync("capped");
        Assert.False(here.IsCompleted, "the other model's lease was not counted");

        await GrainTestHost.ReleaseAsync(host.Other, new LeaseRelease(onOther.LeaseId!, LeaseEndReason.Completed, 200, null));
        var granted = await here.WaitAsync(Eventually.Limit);
        Assert.Equal(LeaseOutcome.Granted, granted.Outcome);
        await host.ReleaseAsync(granted);
        await host.AssertNothingHeldAsync();
    }

    [Fact]
    public async Task AcquireAsync_HeldBackRequestCancelled_LeavesNoTrace()
    {
        await using var host = await GrainTestHost.StartAsync(capacity: 4);
        var first = await host.ModelGrain.AcquireAsync(host.Request("capped"), CancellationToken.None);
        using var cancel = new CancellationTokenSource();
        var request = host.Request("capped");
        var held = await host.EnqueueAsync(request, cancel.Token);

        // As the Frontend does when its client leaves: cancel the call, then say so (the cancellation may otherwise
        // cross the grant that the release below triggers, and nobody would release that lease).
        await cancel.CancelAsync();
        await host.ModelGrain.AbandonAsync(request.RequestId, CancellationToken.None);

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => held.WaitAsync(Eventually.Limit));
        await host.ReleaseAsync(first);
        await host.AssertNothingHeldAsync();
    }

    [Fact]
    public async Task AcquireAsync_InFlightLimitAcrossSilos_ModelOnTheOtherSiloWaitsForTheLease()
    {
        // Sixteen models on two silos: two of them are on different silos (all on one: 2 in 65,536).
        await using var host = await GrainTestHost.StartAsync(silos: 2, configure: o => o.Models.AddRange(Enumerable.Range(0, 16).Select(i =>
            new ModelOptions { Name = $"spread-{i}", Backends = [$"http://10.0.2.{i + 1}:8000"], MaxConcurrentLeasesPerBackend = 4 })));
        var management = host.Grains.GetGrain<IManagementGrain>(0);
        var silos = new Dictionary<string, IModelGrain>();
        for (var i = 0; i < 16 && silos.Count < 2; i++)
        {
            var model = host.Grains.GetGrain<IModelGrain>($"spread-{i}");
            await model.GetSnapshotAsync(CancellationToken.None);
            var silo = (await management.GetActivationAddress(model))!.Endpoint.ToString();
            silos.TryAdd(silo, model);
        }

        Assert.Equal(2, silos.Count);
        var (first, second) = (silos.Values.First(), silos.Values.Last());
        var running = await first.AcquireAsync(host.Request("capped"), CancellationToken.None);
        Assert.Equal(LeaseOutcome.Granted, running.Outcome);

        var held = second.AcquireAsync(host.Request("capped"), CancellationToken.None);
        await Eventually.TrueAsync(async () => (await host.CountersAsync("capped")).Waiting == 1, () => "the second request never waited");
        var other = await second.AcquireAsync(host.Request("low"), CancellationToken.None);
        Assert.Equal(LeaseOutcome.Granted, other.Outcome); // the replica had room: only the token's limit holds it back
        Assert.False(held.IsCompleted, "granted beyond the token's in-flight limit on another silo");

        await GrainTestHost.ReleaseAsync(first, new LeaseRelease(running.LeaseId!, LeaseEndReason.Completed, 200, null));
        var granted = await held.WaitAsync(Eventually.Limit);
        Assert.Equal(LeaseOutcome.Granted, granted.Outcome);
        await host.AssertCountersAsync("capped", inFlight: 1);
        await GrainTestHost.ReleaseAsync(second, new LeaseRelease(granted.LeaseId!, LeaseEndReason.Completed, 200, null));
        await GrainTestHost.ReleaseAsync(second, new LeaseRelease(other.LeaseId!, LeaseEndReason.Completed, 200, null));
        await host.AssertNothingHeldAsync();
    }

    [Fact]
    public async Task TokenGrain_SlotOfAWaitSubmittedAgain_KeptOnceAndGivenBackWhenItLeavesWithoutALease()
    {
        await using var host = await GrainTestHost.StartAsync();
        var token = host.Grains.GetGrain<ITokenGrain>(GrainTestHost.TokenId("capped"));

        Assert.Equal(WaitAdmission.Admitted, await token.TryEnterWaitingAsync("r1", CancellationToken.None));
        Assert.True(await token.TryTakeSlotAsync(GrainTestHost.Model, "r1", CancellationToken.None));
        Assert.Equal(WaitAdmission.Admitted, await token.TryEnterWaitingAsync("r1", CancellationToken.None)); // its model grain moved
        Assert.True(await token.TryTakeSlotAsync(GrainTestHost.OtherModel, "r1", CancellationToken.None)); // the same slot
        Assert.Equal(WaitAdmission.Admitted, await token.TryEnterWaitingAsync("r2", CancellationToken.None));
        Assert.False(await token.TryTakeSlotAsync(GrainTestHost.Model, "r2", CancellationToken.None)); // the limit is 1

        // Leaving and releasing are one-way: a call sent after one may overtake it, so each is waited for.
        await token.LeaveWaitingAsync(GrainTestHost.OtherModel, "r1", null, CancellationToken.None);
        await CountersBecomeAsync(token, new TokenCounters(1, 0, 0, 0));
        Assert.True(await token.TryTakeSlotAsync(GrainTestHost.Model, "r2", CancellationToken.None));
        await token.LeaveWaitingAsync(GrainTestHost.Model, "r2", "lease-2", CancellationToken.None);
        await CountersBecomeAsync(token, new TokenCounters(0, 1, 0, 0));
        await token.ReleaseAsync("lease-2", null, CancellationToken.None);
        await CountersBecomeAsync(token, new TokenCounters(0, 0, 1, 0));
    }

    private static async Task CountersBecomeAsync(ITokenGrain token, TokenCounters expected)
    {
        TokenCounters? counters = null;
        await Eventually.TrueAsync(async () => (counters = await token.GetCountersAsync(CancellationToken.None)) == expected, () => $"expected {expected}, has {counters}");
    }
}
