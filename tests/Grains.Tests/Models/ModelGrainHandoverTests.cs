using Dispatcher.Grains.Abstractions.Leases;
using Dispatcher.Testing;

namespace Dispatcher.Grains.Tests.Models;

/// <summary>What a model grain does when its model arrives from another silo: adopted leases, re-submitted waiters.</summary>
public sealed class ModelGrainHandoverTests
{
    private static readonly Uri Replica = new("http://10.0.0.1:8000");

    [Fact]
    public async Task AdoptAsync_RunningLease_TakesTheReplicasCapacityUntilReleased()
    {
        await using var host = new GrainTestHost(capacity: 1);
        var adoption = new LeaseAdoption("lease-from-before", "req-old", GrainTestHost.TokenId("mid"), 5, null, Replica, TimeSpan.FromSeconds(3));

        Assert.True(await host.ModelGrain.AdoptAsync(adoption, CancellationToken.None));
        Assert.True(await host.ModelGrain.AdoptAsync(adoption, CancellationToken.None)); // again: nothing more
        var snapshot = await host.SnapshotAsync();
        Assert.Equal(1, snapshot.InFlight);
        Assert.Equal(host.Time.GetUtcNow() - TimeSpan.FromSeconds(3), Assert.Single(snapshot.Leases!).GrantedAt);
        Assert.Equal(1, (await host.CountersAsync("mid")).InFlight);

        var waiting = await host.EnqueueAsync("high"); // the replica is full with the adopted lease
        Assert.False(waiting.IsCompleted);
        await host.ModelGrain.ReleaseAsync(new LeaseRelease("lease-from-before", LeaseEndReason.Completed, 200, new LeaseUsage(5, 40)), CancellationToken.None);
        var granted = await waiting.WaitAsync(Eventually.Limit);
        Assert.Equal(LeaseOutcome.Granted, granted.Outcome);
        Assert.Equal(40, (await host.CountersAsync("mid")).CompletionTokens);
        await host.ReleaseAsync(granted);
        await host.AssertNothingHeldAsync();
    }

    [Fact]
    public async Task AdoptAsync_ReplicaNotOfTheModel_IsRefusedAndNotCounted()
    {
        await using var host = new GrainTestHost();
        var adoption = new LeaseAdoption("lease-x", "req-x", GrainTestHost.TokenId("mid"), 5, null, new Uri("http://10.9.9.9:8000"), TimeSpan.Zero);

        Assert.False(await host.ModelGrain.AdoptAsync(adoption, CancellationToken.None));
        await host.AssertNothingHeldAsync();
    }

    [Fact]
    public async Task AdoptAsync_TokenWithInFlightLimit_CountsAgainstTheLimitEvenAboveIt()
    {
        await using var host = new GrainTestHost(capacity: 4);
        var token = GrainTestHost.TokenId("capped"); // at most 1 in flight
        await host.ModelGrain.AdoptAsync(new LeaseAdoption("a", "r-a", token, 5, 1, Replica, TimeSpan.Zero), CancellationToken.None);
        await host.ModelGrain.AdoptAsync(new LeaseAdoption("b", "r-b", token, 5, 1, Replica, TimeSpan.Zero), CancellationToken.None);
        Assert.Equal(2, host.Ledger.InFlight(token)); // already running: counted, never refused

        var next = await host.EnqueueAsync("capped");
        await host.ModelGrain.ReleaseAsync(new LeaseRelease("a", LeaseEndReason.Completed, 200, null), CancellationToken.None);
        Assert.False(next.IsCompleted, "still one over the limit");
        await host.ModelGrain.ReleaseAsync(new LeaseRelease("b", LeaseEndReason.Completed, 200, null), CancellationToken.None);
        var granted = await next.WaitAsync(Eventually.Limit);
        await host.ReleaseAsync(granted);
        await host.AssertNothingHeldAsync();
    }

    [Fact]
    public async Task AcquireAsync_ResubmittedRequest_KeepsItsDeadlineAndReportsItsWholeWait()
    {
        await using var host = new GrainTestHost(configure: o => o.QueueTimeout = TimeSpan.FromSeconds(10));
        var holder = await host.ModelGrain.AcquireAsync(host.Request("high"), CancellationToken.None);
        var fresh = await host.EnqueueAsync("mid");
        var before = (await host.SnapshotAsync()).Waiting;
        var resubmitted = host.ModelGrain.AcquireAsync(host.Request("low") with { AlreadyWaited = TimeSpan.FromSeconds(7) }, CancellationToken.None);
        await Eventually.TrueAsync(async () => (await host.SnapshotAsync()).Waiting > before, () => "resubmitted request not waiting");

        host.Time.Advance(TimeSpan.FromSeconds(3)); // 10 s in all for the resubmitted one, 3 s for the fresh one
        var timedOut = await resubmitted.WaitAsync(Eventually.Limit);
        Assert.Equal(LeaseOutcome.QueueTimeout, timedOut.Outcome);
        Assert.Equal(TimeSpan.FromSeconds(10), timedOut.Waited);
        Assert.False(fresh.IsCompleted);

        await host.ReleaseAsync(holder);
        var granted = await fresh.WaitAsync(Eventually.Limit);
        Assert.Equal(TimeSpan.FromSeconds(3), granted.Waited);
        await host.ReleaseAsync(granted);
        await host.AssertNothingHeldAsync();
    }
}
