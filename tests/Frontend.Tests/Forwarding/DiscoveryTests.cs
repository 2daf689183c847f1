using System.Net;
using Dispatcher.Testing;

namespace Dispatcher.Frontend.Tests.Forwarding;

/// <summary>
/// Replicas found at run time through a fake Kubernetes API server, end to end over HTTP: they join, drain and leave while
/// requests stream, no request reaches a replica after it stopped being ready, and nothing is left held.
/// </summary>
public sealed class DiscoveryTests
{
    [Fact]
    public async Task Discovery_ReplicasJoinDrainAndLeaveUnderLoad_NoRequestReachesADrainedReplicaAndNothingLeaks()
    {
        await using var api = await FakeKubernetesApi.StartAsync();
        await using var host = await DispatcherHost.StartAsync(replicas: 3, capacity: 2, kubernetesApi: api.Address,
            emulator: o => o.StepBase = TimeSpan.FromMilliseconds(20));
        Publish(api, host, 0, ready: true);
        Publish(api, host, 1, ready: true);
        await ServingAsync(host, [0, 1], draining: []);
        var client = host.CreateClient();

        // Four long streams fill both replicas; then replica 2 joins and replica 0 stops being ready under its streams.
        var streams = Enumerable.Range(0, 4)
            .Select(_ => client.PostAsync("/v1/chat/completions", DispatcherHost.Json(DispatcherHost.Chat(stream: true, maxTokens: 80))))
            .ToList();
        await Eventually.TrueAsync(async () => (await host.SnapshotAsync()).InFlight == 4, () => "the streams never all ran");
        Publish(api, host, 2, ready: true);
        Publish(api, host, 0, ready: false);
        await ServingAsync(host, [1, 2], draining: [0]);
        var servedByDrained = host.Replicas[0].RequestIds.Count;

        var more = Enumerable.Range(0, 6)
            .Select(_ => client.PostAsync("/v1/chat/completions", DispatcherHost.Json(DispatcherHost.Chat(maxTokens: 4))))
            .ToList();
        foreach (var response in await Task.WhenAll(streams.Concat(more)))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(body.Contains("[DONE]", StringComparison.Ordinal) || body.Contains("\"choices\"", StringComparison.Ordinal), body);
        }

        Assert.Contains(host.Logs.Lines, l => l.Contains($"Replica {host.Replicas[0].BaseAddress} of {DispatcherHost.Model} is no longer ready: draining (2 leases running", StringComparison.Ordinal));
        Assert.Equal(servedByDrained, host.Replicas[0].RequestIds.Count);
        Assert.NotEmpty(host.Replicas[2].RequestIds);

        // The drained replica is dropped once its streams have ended; a Service slice deleted goes the same way.
        api.DeleteSlice(SliceName(1));
        await ServingAsync(host, [2], draining: []);
        await host.AssertDrainedAsync();
        Assert.Equal(HttpStatusCode.OK, (await client.PostAsync("/v1/chat/completions", DispatcherHost.Json(DispatcherHost.Chat(maxTokens: 2)))).StatusCode);
    }

    private static string SliceName(int replica) => $"{DispatcherHost.DiscoveredService}-{replica}";

    /// <summary>Each replica in its own EndpointSlice: they share an address (loopback) and differ by port.</summary>
    private static void Publish(FakeKubernetesApi api, DispatcherHost host, int replica, bool ready) =>
        api.SetSlice(DispatcherHost.DiscoveredService, SliceName(replica), host.Replicas[replica].BaseAddress.Port, ("127.0.0.1", ready));

    private static Task ServingAsync(DispatcherHost host, int[] serving, int[] draining)
    {
        string Describe(IEnumerable<int> replicas) => string.Join(",", replicas.Select(r => host.Replicas[r].BaseAddress.AbsoluteUri).Order());
        var state = "";
        return Eventually.TrueAsync(async () =>
        {
            var backends = (await host.SnapshotAsync()).Backends;
            var nowServing = string.Join(",", backends.Where(b => !b.Draining).Select(b => b.Snapshot.Address.AbsoluteUri).Order());
            var nowDraining = string.Join(",", backends.Where(b => b.Draining).Select(b => b.Snapshot.Address.AbsoluteUri).Order());
            state = $"serving [{nowServing}], draining [{nowDraining}]";
            return nowServing == Describe(serving) && (nowDraining == Describe(draining) || (draining.Length > 0 && nowDraining.Length == 0));
        }, () => $"expected serving [{Describe(serving)}], draining [{Describe(draining)}]; {state}");
    }
}
