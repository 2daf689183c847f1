using Dispatcher.Grains.Abstractions.Configuration;
using Dispatcher.Grains.Abstractions.Leases;
using Dispatcher.Testing;

namespace Dispatcher.Grains.Tests.Models;

/// <summary>A model whose replicas are found at run time: they join, drain and leave as discovery sees them.</summary>
public sealed class ModelGrainDiscoveryTests
{
    private const string A = "http://10.9.0.1:8000/";
    private const string B = "http://10.9.0.2:8000/";

    [Fact]
    public async Task Discovery_NothingListedYet_RefusesThenServesOnceAReplicaIsFound()
    {
        await using var host = await StartAsync();

        var early = await host.ModelGrain.AcquireAsync(host.Request("mid"), CancellationToken.None);
        Assert.Equal(LeaseOutcome.NoHealthyBackend, early.Outcome);

        host.Replicas.Set(GrainTestHost.Model, [A]);
        var grant = await GrantedAfterSweepsAsync(host, host.Request("mid"));

        Assert.Equal(new Uri(A), grant.Backend);
        await host.ReleaseAsync(grant);
        await host.AssertNothingHeldAsync();
    }

    [Fact]
    public async Task Discovery_ReplicaAdded_TakesTheWaitingRequests()
    {
        await using var host = await StartAsync(A);
        var first = await host.ModelGrain.AcquireAsync(host.Request("mid"), CancellationToken.None);
        var waiting = await host.EnqueueAsync("high");

        host.Replicas.Set(GrainTestHost.Model, [A, B]);
        await SweepAsync(host);

        var second = await waiting.WaitAsync(Eventually.Limit);
        Assert.Equal(LeaseOutcome.Granted, second.Outcome);
        Assert.Equal(new Uri(B), second.Backend);
        Assert.Equal(2, (await host.SnapshotAsync()).Backends.Count);
        await host.ReleaseAsync(first);
        await host.ReleaseAsync(second);
        await host.AssertNothingHeldAsync();
    }

    [Fact]
    public async Task Discovery_ReplicaGone_DrainsItsRunningLeaseThenDropsIt()
    {
        await using var host = await StartAsync(A, B);
        var onA = await host.ModelGrain.AcquireAsync(host.Request("mid"), CancellationToken.None);
        var onB = await host.ModelGrain.AcquireAsync(host.Request("mid"), CancellationToken.None);
        var (leaving, staying) = onA.Backend == new Uri(A) ? (onA, onB) : (onB, onA);

        host.Replicas.Set(GrainTestHost.Model, [B]);
        await SweepAsync(host);
        var waiting = await host.EnqueueAsync("high");
        await host.ReleaseAsync(leaving); // the draining replica's last lease ends: it takes no new one

        await SweepAsync(host);
        Assert.False(waiting.IsCompleted, "a request was granted on a drained replica");
        var snapshot = await host.SnapshotAsync();
        Assert.Equal([new Uri(B)], snapshot.Backends.Select(b => b.Snapshot.Address));

        await host.ReleaseAsync(staying);
        var next = await waiting.WaitAsync(Eventually.Limit);
        Assert.Equal(new Uri(B), next.Backend);
        await host.ReleaseAsync(next);
        await host.AssertNothingHeldAsync();
    }

    [Fact]
    public async Task Discovery_ReplicaReadyAgainWhileDraining_ServesAgain()
    {
        await using var host = await StartAsync(A);
        var running = await host.ModelGrain.AcquireAsync(host.Request("mid"), CancellationToken.None);
        host.Replicas.Set(GrainTestHost.Model, []);
        await SweepAsync(host);
        Assert.Equal(LeaseOutcome.NoHealthyBackend, (await host.ModelGrain.AcquireAsync(host.Request("mid"), CancellationToken.None)).Outcome);

        host.Replicas.Set(GrainTestHost.Model, [A]);
        await SweepAsync(host);
        var waiting = await host.EnqueueAsync("high");
        await host.ReleaseAsync(running);

        var next = await waiting.WaitAsync(Eventually.Limit);
        Assert.Equal(new Uri(A), next.Backend);
        await host.ReleaseAsync(next);
        await host.AssertNothingHeldAsync();
    }

    private static async Task<GrainTestHost> StartAsync(params string[] replicas)
    {
        var host = await GrainTestHost.StartAsync(configure: o =>
        {
            o.Models[0].Backends = [];
            o.Models[0].Discovery = new DiscoveryOptions { Service = "vllm" };
        });
        if (replicas.Length > 0)
        {
            host.Replicas.Set(GrainTestHost.Model, replicas);
        }

        return host;
    }

    /// <summary>Lets the model grain's one-second sweep run and waits until it has followed what discovery sees.</summary>
    private static async Task SweepAsync(GrainTestHost host)
    {
        var found = host.Replicas.Find(GrainTestHost.Model) ?? [];
        host.Time.Advance(TimeSpan.FromSeconds(1));
        await Eventually.TrueAsync(async () =>
        {
            var backends = (await host.SnapshotAsync()).Backends;
            return backends.Where(b => !b.Draining).Select(b => b.Snapshot.Address.AbsoluteUri).Order().SequenceEqual(found.Select(u => u.AbsoluteUri).Order())
                && backends.All(b => !b.Draining || b.LeasesInFlight > 0);
        }, () => "the model grain did not follow discovery");
    }

    private static async Task<LeaseGrant> GrantedAfterSweepsAsync(GrainTestHost host, LeaseRequest request)
    {
        LeaseGrant? grant = null;
        await Eventually.TrueAsync(async () =>
        {
            host.Time.Advance(TimeSpan.FromSeconds(1));
            grant = await host.ModelGrain.AcquireAsync(request with { RequestId = request.RequestId + Guid.NewGuid().ToString("N") }, CancellationToken.None);
            return grant.Outcome == LeaseOutcome.Granted;
        }, () => $"never granted: {grant?.Outcome}");
        return grant!;
    }
}
