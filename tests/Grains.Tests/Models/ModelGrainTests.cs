using Dispatcher.Grains.Abstractions.Configuration;
using Dispatcher.Grains.Abstractions.Leases;
using Dispatcher.Testing;

namespace Dispatcher.Grains.Tests.Models;

public sealed class ModelGrainTests
{
    [Fact]
    public async Task AcquireAsync_FreeReplica_GrantsAtOnceOnThatReplica()
    {
        await using var host = await GrainTestHost.StartAsync();

        var grant = await host.ModelGrain.AcquireAsync(host.Request("low"), CancellationToken.None);

        Assert.Equal(LeaseOutcome.Granted, grant.Outcome);
        Assert.Equal(new Uri("http://10.0.0.1:8000"), grant.Backend);
        Assert.NotNull(grant.LeaseId);
        var snapshot = await host.SnapshotAsync();
        Assert.Equal(1, snapshot.InFlight);
        await host.AssertCountersAsync("low", waiting: 0, inFlight: 1);

        await host.ReleaseAsync(grant);
        await host.AssertNothingHeldAsync();
    }

    [Fact]
    public async Task AcquireAsync_StrictPolicy_GrantsWaitersByPriorityThenArrival()
    {
        await using var host = await GrainTestHost.StartAsync(configure: o => o.Scheduling.Policy = SchedulingPolicy.Strict);
        var holder = await host.ModelGrain.AcquireAsync(host.Request("mid"), CancellationToken.None);

        var low1 = await host.EnqueueAsync("low");
        var high = await host.EnqueueAsync("high");
        var low2 = await host.EnqueueAsync("low");
        var mid = await host.EnqueueAsync("mid");
        Assert.Equal(4, (await host.SnapshotAsync()).Waiting);
        Assert.False(low1.IsCompleted || high.IsCompleted || low2.IsCompleted || mid.IsCompleted);

        var order = await ServeOneByOneAsync(host, holder, new() { [low1] = "low1", [high] = "high", [low2] = "low2", [mid] = "mid" });

        Assert.Equal(["high", "mid", "low1", "low2"], order);
        await host.AssertNothingHeldAsync();
    }

    [Fact]
    public async Task AcquireAsync_FairPolicy_HighWeightOvertakesAQueueOfLowWeight()
    {
        await using var host = await GrainTestHost.StartAsync(configure: o => o.Tokens.Single(t => t.Name == "low").Threshold = 5);
        var holder = await host.ModelGrain.AcquireAsync(host.Request("mid"), CancellationToken.None);
        var pending = new Dictionary<Task<LeaseGrant>, string>();
        for (var i = 0; i < 5; i++)
        {
            pending[await host.EnqueueAsync("low")] = $"low{i}";
        }

        pending[await host.EnqueueAsync("high")] = "high";

        var order = await ServeOneByOneAsync(host, holder, pending);

        // Both tokens start at the same virtual time; high's smaller finish tag puts it ahead of the whole queue.
        Assert.Equal(["high", "low0", "low1", "low2", "low3", "low4"], order);
        await host.AssertNothingHeldAsync();
    }

    [Fact]
    public async Task AcquireAsync_LoweredPriority_IsServedWithTheLowerWeight()
    {
        await using var host = await GrainTestHost.StartAsync(configure: o => o.Scheduling.Policy = SchedulingPolicy.Strict);
        var holder = await host.ModelGrain.AcquireAsync(host.Request("mid"), CancellationToken.None);
        var low = await host.EnqueueAsync("low");
        var before = (await host.SnapshotAsync()).Waiting;
        var lowered = host.ModelGrain.AcquireAsync(host.Request("high", priority: 1), CancellationToken.None);
        await Eventually.TrueAsync(async () => (await host.SnapshotAsync()).Waiting > before, () => "lowered request not waiting");

        await host.ReleaseAsync(holder);
        var first = await Task.WhenAny(low, lowered).WaitAsync(Eventually.Limit);

        Assert.Same(low, first);
        await host.ReleaseAsync(await low);
        await host.ReleaseAsync(await lowered.WaitAsync(Eventually.Limit));
        await host.AssertNothingHeldAsync();
    }

    [Fact]
    public async Task AcquireAsync_TokenAtThreshold_RefusesAtOnceWithRetryAfter()
    {
        await using var host = await GrainTestHost.StartAsync();
        var holder = await host.ModelGrain.AcquireAsync(host.Request("high"), CancellationToken.None);
        var first = await host.EnqueueAsync("low");
        var second = await host.EnqueueAsync("low");

        var third = await host.ModelGrain.AcquireAsync(host.Request("low"), CancellationToken.None);

        Assert.Equal(LeaseOutcome.OverThreshold, third.Outcome);
        Assert.Equal(host.Options.RetryAfter, third.RetryAfter);
        Assert.Null(third.LeaseId);
        await host.AssertCountersAsync("low", waiting: 2);

        await host.ReleaseAsync(holder);
        await host.ReleaseAsync(await first);
        await host.ReleaseAsync(await second);
        await host.AssertNothingHeldAsync();
    }

    [Fact]
    public async Task AcquireAsync_WaitsPastQueueTimeout_AnswersQueueTimeoutAndLeavesNoTrace()
    {
        await using var host = await GrainTestHost.StartAsync(configure: o => o.QueueTimeout = TimeSpan.FromSeconds(10));
        var holder = await host.ModelGrain.AcquireAsync(host.Request("high"), CancellationToken.None);
        var waiter = await host.EnqueueAsync("low");

        host.Time.Advance(TimeSpan.FromSeconds(9));
        Assert.False(waiter.IsCompleted, "timed out before its deadline");
        host.Time.Advance(TimeSpan.FromSeconds(1));
        var result = await waiter.WaitAsync(Eventually.Limit);

        Assert.Equal(LeaseOutcome.QueueTimeout, result.Outcome);
        Assert.InRange(result.Waited, TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(10.001)); // the test clock ticks on readings
        Assert.Equal(0, (await host.SnapshotAsync()).Waiting);
        await host.AssertCountersAsync("low", waiting: 0);
        await host.ReleaseAsync(holder);
        await host.AssertNothingHeldAsync();
    }

    [Fact]
    public async Task AcquireAsync_CallerCancelsWhileWaiting_RemovesWaiterAndServesTheNext()
    {
        await using var host = await GrainTestHost.StartAsync();
        var holder = await host.ModelGrain.AcquireAsync(host.Request("low"), CancellationToken.None);
        using var cancel = new CancellationTokenSource();
        var cancelled = await host.EnqueueAsync("high", cancellationToken: cancel.Token);
        var next = await host.EnqueueAsync("mid");

        await cancel.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled.WaitAsync(Eventually.Limit));
        await Eventually.TrueAsync(async () => (await host.SnapshotAsync()).Waiting == 1, () => "cancelled waiter still counted");
        await host.AssertCountersAsync("high", waiting: 0);

        await host.ReleaseAsync(holder);
        var granted = await next.WaitAsync(Eventually.Limit);
        Assert.Equal(LeaseOutcome.Granted, granted.Outcome);
        await host.ReleaseAsync(granted);
        await host.AssertNothingHeldAsync();
    }

    [Fact]
    public async Task AbandonAsync_WaitingRequest_EndsItsCallAndServesTheNext()
    {
        await using var host = await GrainTestHost.StartAsync();
        var holder = await host.ModelGrain.AcquireAsync(host.Request("low"), CancellationToken.None);
        var request = host.Request("high");
        var abandoned = await host.EnqueueAsync(request);
        var next = await host.EnqueueAsync("mid");

        await host.ModelGrain.AbandonAsync(request.RequestId, CancellationToken.None);

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => abandoned.WaitAsync(Eventually.Limit));
        await Eventually.TrueAsync(async () => (await host.CountersAsync("high")).Waiting == 0, () => "abandoned request still counted by its token");
        Assert.Equal(1, (await host.SnapshotAsync()).Waiting);
        await host.ReleaseAsync(holder);
        var granted = await next.WaitAsync(Eventually.Limit);
        Assert.Equal(LeaseOutcome.Granted, granted.Outcome);
        await host.ReleaseAsync(granted);
        await host.AssertNothingHeldAsync();
    }

    [Fact]
    public async Task AcquireAsync_RequestAbandonedBeforeItsCallArrived_IsTurnedAway()
    {
        await using var host = await GrainTestHost.StartAsync();
        var request = host.Request("high");

        await host.ModelGrain.AbandonAsync(request.RequestId, CancellationToken.None);

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => host.ModelGrain.AcquireAsync(request, CancellationToken.None));
        await host.AssertCountersAsync("high", waiting: 0);
        await host.AssertNothingHeldAsync();
    }

    [Fact]
    public async Task AcquireAsync_SameRequestSentAgain_ReplacesTheEarlierCall()
    {
        await using var host = await GrainTestHost.StartAsync();
        var holder = await host.ModelGrain.AcquireAsync(host.Request("low"), CancellationToken.None);
        var request = host.Request("high");
        var first = await host.EnqueueAsync(request);

        var again = host.ModelGrain.AcquireAsync(request with { AlreadyWaited = TimeSpan.FromSeconds(3) }, CancellationToken.None);

        Assert.Equal(LeaseOutcome.Stopping, (await first.WaitAsync(Eventually.Limit)).Outcome);
        Assert.False(again.IsCompleted);
        await AssertOneWaitsAndIsServedAsync(host, holder, again);
    }

    [Fact]
    public async Task AcquireAsync_EarlierCallArrivingAfterItsResubmission_IsTurnedAway()
    {
        await using var host = await GrainTestHost.StartAsync();
        var holder = await host.ModelGrain.AcquireAsync(host.Request("low"), CancellationToken.None);
        var request = host.Request("high");
        var resubmitted = await host.EnqueueAsync(request with { AlreadyWaited = TimeSpan.FromSeconds(3) });

        var late = await host.ModelGrain.AcquireAsync(request, CancellationToken.None).WaitAsync(Eventually.Limit);

        Assert.Equal(LeaseOutcome.Stopping, late.Outcome);
        await AssertOneWaitsAndIsServedAsync(host, holder, resubmitted);
    }

    /// <summary>
    /// A request sent twice waits once (in the wait list and in its token's count) and, once
    /// <paramref name="holder"/> is released, is served by <paramref name="kept"/>; nothing is left held.
    /// </summary>
    private static async Task AssertOneWaitsAndIsServedAsync(GrainTestHost host, LeaseGrant holder, Task<LeaseGrant> kept)
    {
        Assert.Equal(1, (await host.SnapshotAsync()).Waiting);
        await host.AssertCountersAsync("high", waiting: 1);
        await host.ReleaseAsync(holder);
        var granted = await kept.WaitAsync(Eventually.Limit);
        Assert.Equal(LeaseOutcome.Granted, granted.Outcome);
        await host.ReleaseAsync(granted);
        await host.AssertNothingHeldAsync();
    }

    [Fact]
    public async Task ReleaseAsync_UnknownOrRepeatedLease_ChangesNothing()
    {
        await using var host = await GrainTestHost.StartAsync();
        var grant = await host.ModelGrain.AcquireAsync(host.Request("mid"), CancellationToken.None);

        await host.ModelGrain.ReleaseAsync(new LeaseRelease("no-such-lease", LeaseEndReason.Completed, 200, null), CancellationToken.None);
        Assert.Equal(1, (await host.SnapshotAsync()).InFlight);
        await host.ReleaseAsync(grant, usage: new LeaseUsage(10, 20));
        await host.ReleaseAsync(grant);

        var counters = await host.CountersAsync("mid");
        Assert.Equal(1, counters.Completed);
        Assert.Equal(20, counters.CompletionTokens);
        await host.AssertNothingHeldAsync();
    }

    [Fact]
    public async Task ExpireLeases_LeaseNeverReleased_IsTakenBackAfterMaxLifetime()
    {
        await using var host = await GrainTestHost.StartAsync(configure: o =>
        {
            o.MaxLeaseLifetime = TimeSpan.FromMinutes(10);
            o.QueueTimeout = TimeSpan.FromMinutes(20);
        });
        var forgotten = await host.ModelGrain.AcquireAsync(host.Request("high"), CancellationToken.None);
        var waiter = await host.EnqueueAsync("low");

        host.Time.Advance(TimeSpan.FromMinutes(11));

        var granted = await waiter.WaitAsync(Eventually.Limit);
        Assert.Equal(LeaseOutcome.Granted, granted.Outcome);
        Assert.NotEqual(forgotten.LeaseId, granted.LeaseId);
        await host.AssertCountersAsync("high", inFlight: 0);
        await host.ReleaseAsync(granted);
        await host.AssertNothingHeldAsync();
    }

    [Fact]
    public async Task AcquireAsync_TwoReplicas_SpreadsLeasesToTheLeastLoaded()
    {
        await using var host = await GrainTestHost.StartAsync(backends: 2, capacity: 2);

        var grants = new List<LeaseGrant>();
        for (var i = 0; i < 4; i++)
        {
            grants.Add(await host.ModelGrain.AcquireAsync(host.Request("high"), CancellationToken.None));
        }

        Assert.All(grants, g => Assert.Equal(LeaseOutcome.Granted, g.Outcome));
        Assert.Equal(2, grants.Count(g => g.Backend == new Uri("http://10.0.0.1:8000")));
        Assert.Equal(2, grants.Count(g => g.Backend == new Uri("http://10.0.0.2:8000")));
        var fifth = await host.EnqueueAsync("high");
        Assert.False(fifth.IsCompleted, "granted beyond the replicas' capacity");

        await host.ReleaseAsync(grants[1]);
        var granted = await fifth.WaitAsync(Eventually.Limit);
        Assert.Equal(grants[1].Backend, granted.Backend);
        foreach (var grant in grants.Where(g => g != grants[1]).Append(granted))
        {
            await host.ReleaseAsync(grant);
        }

        await host.AssertNothingHeldAsync();
    }

    [Fact]
    public async Task OnBackendChangedAsync_AllReplicasUnhealthy_RefusesNewRequestsAndRecovers()
    {
        await using var host = await GrainTestHost.StartAsync();
        var snapshot = (await host.SnapshotAsync()).Backends[0].Snapshot;

        // Replica pushes are one-way calls: wait until the grain shows each one.
        await host.ModelGrain.OnBackendChangedAsync(snapshot with { Healthy = false, Version = snapshot.Version + 1 }, CancellationToken.None);
        await Eventually.TrueAsync(async () => !(await host.SnapshotAsync()).Backends[0].Snapshot.Healthy, () => "unhealthy snapshot not applied");
        var refused = await host.ModelGrain.AcquireAsync(host.Request("high"), CancellationToken.None);
        Assert.Equal(LeaseOutcome.NoHealthyBackend, refused.Outcome);

        await host.ModelGrain.OnBackendChangedAsync(snapshot with { Version = snapshot.Version - 1 }, CancellationToken.None);
        await host.ModelGrain.OnBackendChangedAsync(snapshot with { Healthy = false, Version = snapshot.Version + 2 }, CancellationToken.None);
        await Eventually.TrueAsync(async () => (await host.SnapshotAsync()).Backends[0].Snapshot.Version == snapshot.Version + 2, () => "newer snapshot not applied");
        Assert.False((await host.SnapshotAsync()).Backends[0].Snapshot.Healthy, "an older snapshot replaced a newer one");

        await host.ModelGrain.OnBackendChangedAsync(snapshot with { Healthy = true, Version = snapshot.Version + 3 }, CancellationToken.None);
        await Eventually.TrueAsync(async () => (await host.SnapshotAsync()).Backends[0].Snapshot.Healthy, () => "healthy snapshot not applied");
        var granted = await host.ModelGrain.AcquireAsync(host.Request("high"), CancellationToken.None);
        Assert.Equal(LeaseOutcome.Granted, granted.Outcome);
        await host.ReleaseAsync(granted);
        await host.AssertNothingHeldAsync();
    }

    [Fact]
    public async Task OnBackendChangedAsync_CapacityGrows_GrantsWaitersAtOnce()
    {
        await using var host = await GrainTestHost.StartAsync();
        var holder = await host.ModelGrain.AcquireAsync(host.Request("high"), CancellationToken.None);
        var waiter = await host.EnqueueAsync("low");
        var snapshot = (await host.SnapshotAsync()).Backends[0].Snapshot;

        await host.ModelGrain.OnBackendChangedAsync(snapshot with { MaxConcurrentLeases = 2, Version = snapshot.Version + 1 }, CancellationToken.None);

        var granted = await waiter.WaitAsync(Eventually.Limit);
        Assert.Equal(LeaseOutcome.Granted, granted.Outcome);
        await host.ReleaseAsync(holder);
        await host.ReleaseAsync(granted);
        await host.AssertNothingHeldAsync();
    }

    private static async Task<List<string>> ServeOneByOneAsync(GrainTestHost host, LeaseGrant holder, Dictionary<Task<LeaseGrant>, string> pending)
    {
        var order = new List<string>();
        var current = holder;
        while (pending.Count > 0)
        {
            await host.ReleaseAsync(current);
            var next = await Task.WhenAny(pending.Keys).WaitAsync(Eventually.Limit);
            order.Add(pending[next]);
            pending.Remove(next);
            current = await next;
            Assert.Equal(LeaseOutcome.Granted, current.Outcome);
        }

        await host.ReleaseAsync(current);
        return order;
    }
}
