using Dispatcher.Grains.Abstractions.Leases;
using Dispatcher.Testing;

namespace Dispatcher.Grains.Tests.Models;

/// <summary>A token's in-flight limit holds its further requests back (they wait, others pass), across models.</summary>
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

        await host.Other.ReleaseAsync(new LeaseRelease(onOther.LeaseId!, LeaseEndReason.Completed, 200, null), CancellationToken.None);
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
}
