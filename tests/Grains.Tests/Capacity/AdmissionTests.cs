using Dispatcher.Grains.Abstractions.Backends;
using Dispatcher.Grains.Abstractions.Leases;
using Dispatcher.Testing;

namespace Dispatcher.Grains.Tests.Capacity;

/// <summary>
/// Admission from live metrics, through the real model and backend grains on the silo, with a scripted replica
/// (<see cref="Backends.FakeReplica"/>) standing in for vLLM and a fake clock driving the scrapes.
/// </summary>
public sealed class AdmissionTests
{
    private const string First = "http://10.0.0.1:8000";
    private const string Second = "http://10.0.0.2:8000";

    private static Task<GrainTestHost> MetricsHost(int backends = 1) => GrainTestHost.StartAsync(backends: backends, capacity: 1, configure: o =>
    {
        o.Capacity.UseMetrics = true;
        o.Models[0].MaxConcurrentLeasesPerBackend = null;
        o.QueueTimeout = TimeSpan.FromMinutes(20);
        o.MaxLeaseLifetime = TimeSpan.FromDays(1);
        o.Tokens.ForEach(t => t.Threshold = 100);
    });

    /// <summary>
    /// Moves the clock 100 ms at a time until <paramref name="done"/> (at most 10 s of it). A grain timer re-arms only when
    /// its tick has completed, which may be just after the test saw the tick's effect, so a fixed step can miss it.
    /// </summary>
    private static async Task AdvanceUntilAsync(GrainTestHost host, Func<bool> done, string failure, Func<Task>? refresh = null)
    {
        for (var step = 0; step < 100; step++)
        {
            if (refresh is not null)
            {
                await refresh();
            }

            if (done())
            {
                return;
            }

            host.Time.Advance(TimeSpan.FromMilliseconds(100));
            await Task.Delay(20);
        }

        Assert.Fail(failure);
    }

    /// <summary>One second passes: the replicas decode at their running counts, then are scraped once.</summary>
    private static async Task TickAsync(GrainTestHost host, params string[] addresses)
    {
        var versions = new Dictionary<string, long>();
        foreach (var address in addresses)
        {
            host.Probe[address].Run(1);
            versions[address] = (await host.Grains.GetGrain<IBackendGrain>(address).GetSnapshotAsync(CancellationToken.None)).Version;
        }

        host.Time.Advance(TimeSpan.FromSeconds(1));
        foreach (var address in addresses)
        {
            await Eventually.TrueAsync(async () => (await host.Grains.GetGrain<IBackendGrain>(address).GetSnapshotAsync(CancellationToken.None)).Version > versions[address],
                () => $"{address} was not scraped");
        }
    }

    [Fact]
    public async Task Burst_LargerThanCapacity_NeverPushesUsersUnderTheFloorAndWaitsInOurQueue()
    {
        await using var host = await MetricsHost();
        var replica = host.Probe[First];
        replica.StepBase = 0.010;
        replica.StepPerRunning = 0.005; // 7 tokens/s per user up to 26 running
        var waiting = new List<Task<LeaseGrant>>();
        for (var i = 0; i < 40; i++)
        {
            waiting.Add(host.ModelGrain.AcquireAsync(host.Request("high"), CancellationToken.None));
        }

        var most = 0;
        for (var second = 0; second < 40; second++)
        {
            var inFlight = (await host.SnapshotAsync()).InFlight;
            most = Math.Max(most, inFlight);
            replica.Running = inFlight; // vLLM runs what it was given
            await TickAsync(host, First);
        }

        var final = await host.SnapshotAsync();
        Assert.InRange(most, 20, 26);
        Assert.True(1 / (replica.StepBase + (replica.StepPerRunning * most)) >= 7, $"{most} running is under the floor");
        Assert.Equal(40 - final.InFlight, final.Waiting);
        Assert.Equal(0, replica.Waiting);
    }

    [Fact]
    public async Task ColdStart_NoRateYet_AdmitsOnlyTheColdStartLeases()
    {
        await using var host = await MetricsHost();
        var waiting = Enumerable.Range(0, 10).Select(_ => host.ModelGrain.AcquireAsync(host.Request("high"), CancellationToken.None)).ToList();

        // All ten reach the grain (the calls race each other): four are admitted, six wait.
        await Eventually.TrueAsync(async () => (await host.SnapshotAsync()) is { InFlight: 4, Waiting: 6 }, () => "cold start did not admit exactly 4 of 10");
        Assert.Equal(4, (await host.SnapshotAsync()).InFlight);
    }

    [Theory]
    [InlineData(1, 0.1)]
    [InlineData(0, 0.95)]
    public async Task ReplicaQueueingOrKvFull_AdmitsNothingMore(int vllmWaiting, double kvUsage)
    {
        await using var host = await MetricsHost();
        var replica = host.Probe[First];
        replica.Running = 2;
        await TickAsync(host, First);
        await TickAsync(host, First);
        replica.Waiting = vllmWaiting;
        replica.KvUsage = kvUsage;
        await TickAsync(host, First);

        var request = host.ModelGrain.AcquireAsync(host.Request("high"), CancellationToken.None);
        await Eventually.TrueAsync(async () => (await host.SnapshotAsync()).Waiting == 1, () => "request not waiting");

        replica.Waiting = 0;
        replica.KvUsage = 0.1;
        await TickAsync(host, First);
        Assert.Equal(LeaseOutcome.Granted, (await request.WaitAsync(Eventually.Limit)).Outcome);
    }

    [Fact]
    public async Task WithoutMetrics_UnreachableReplica_IsProbedWithBackoffAndRestored()
    {
        await using var host = await GrainTestHost.StartAsync(backends: 2, capacity: 2); // Capacity:UseMetrics=false
        host.Probe[First].Down = true;
        var grants = new List<LeaseGrant>();
        while (grants.Count == 0 || grants[^1].Backend != new Uri(First))
        {
            grants.Add(await host.ModelGrain.AcquireAsync(host.Request("high"), CancellationToken.None));
        }

        // A Frontend could not connect to it: ejected at once, then probed on its own (no scrape would notice).
        await GrainTestHost.ReleaseAsync(host.ModelGrain, new LeaseRelease(grants[^1].LeaseId!, LeaseEndReason.UpstreamUnreachable, null, null));
        grants.RemoveAt(grants.Count - 1);
        await Eventually.TrueAsync(async () => !(await host.SnapshotAsync()).Backends[0].Snapshot.Healthy, () => "unreachable replica not ejected");
        var probes = host.Probe[First].Probes;
        await AdvanceUntilAsync(host, () => host.Probe[First].Probes > probes, "an ejected replica is never probed without metrics");
        var afterFirst = host.Probe[First].Probes;
        await AdvanceUntilAsync(host, () => host.Probe[First].Probes > afterFirst, "no second probe");
        Assert.Equal(0, host.Probe[First].Scrapes);

        host.Probe[First].Down = false;
        var restored = false;
        await AdvanceUntilAsync(host, () => restored, "recovered replica not restored", async () => restored = (await host.SnapshotAsync()).Backends[0].Snapshot.Healthy);
        foreach (var grant in grants)
        {
            await host.ReleaseAsync(grant);
        }

        // It takes leases again: three of them need both replicas (two each).
        var again = new List<LeaseGrant>();
        for (var i = 0; i < 3; i++)
        {
            again.Add(await host.ModelGrain.AcquireAsync(host.Request("high"), CancellationToken.None));
        }

        Assert.Contains(again, g => g.Backend == new Uri(First));
        foreach (var grant in again)
        {
            await host.ReleaseAsync(grant);
        }

        await host.AssertNothingHeldAsync();
    }

    [Fact]
    public async Task FailingScrapes_EjectProbeWithBackoffAndRestore()
    {
        await using var host = await MetricsHost(backends: 2);
        host.Probe[First].Running = 1;
        host.Probe[Second].Running = 1;
        await TickAsync(host, First, Second);
        await TickAsync(host, First, Second);

        host.Probe[First].Down = true;
        for (var i = 0; i < 2; i++)
        {
            var scrapes = host.Probe[First].Scrapes;
            await AdvanceUntilAsync(host, () => host.Probe[First].Scrapes > scrapes, "no scrape");
        }

        await Eventually.TrueAsync(async () => !(await host.SnapshotAsync()).Backends[0].Snapshot.Healthy, () => "failing replica not ejected");

        var grants = new List<LeaseGrant>();
        for (var i = 0; i < 3; i++)
        {
            grants.Add(await host.ModelGrain.AcquireAsync(host.Request("high"), CancellationToken.None));
        }

        Assert.All(grants, g => Assert.Equal(new Uri(Second), g.Backend));
        var probes = host.Probe[First].Probes;
        await AdvanceUntilAsync(host, () => host.Probe[First].Probes == probes + 1, "no probe after about 1 s");
        host.Time.Advance(TimeSpan.FromSeconds(1)); // the next one only after 2 s
        await Task.Delay(50);
        Assert.Equal(probes + 1, host.Probe[First].Probes);

        host.Probe[First].Down = false;
        var restored = false;
        await AdvanceUntilAsync(host, () => restored, "recovered replica not restored", async () => restored = (await host.SnapshotAsync()).Backends[0].Snapshot.Healthy);
        foreach (var grant in grants)
        {
            await host.ReleaseAsync(grant);
        }
    }

    [Fact]
    public async Task ReleaseUnreachable_EjectsAtOnceAndTheNextRequestGoesElsewhere()
    {
        await using var host = await GrainTestHost.StartAsync(backends: 2, capacity: 2, configure: o =>
        {
            o.Capacity.UseMetrics = true;
            o.Capacity.ColdStartLeases = 2;
        });
        var first = await host.ModelGrain.AcquireAsync(host.Request("high"), CancellationToken.None);
        var broken = first.Backend!;

        await host.ReleaseAsync(first, LeaseEndReason.UpstreamUnreachable);

        for (var i = 0; i < 2; i++)
        {
            var next = await host.ModelGrain.AcquireAsync(host.Request("high"), CancellationToken.None);
            Assert.NotEqual(broken, next.Backend);
        }

        await Eventually.TrueAsync(async () => !(await host.Grains.GetGrain<IBackendGrain>(broken.AbsoluteUri.TrimEnd('/')).GetSnapshotAsync(CancellationToken.None)).Healthy,
            () => "backend grain not told");
    }
}
