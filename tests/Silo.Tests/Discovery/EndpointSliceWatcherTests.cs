using Dispatcher.Grains.Abstractions.Configuration;
using Dispatcher.Grains.Backends;
using Dispatcher.Silo.Discovery;
using Dispatcher.Testing;
using k8s.Models;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Dispatcher.Silo.Tests.Discovery;

/// <summary>The watcher against a fake Kubernetes API server on loopback: list, watch, and a watch cut short.</summary>
public sealed class EndpointSliceWatcherTests
{
    private const string Model = "llama";

    [Fact]
    public async Task Watch_SlicesAddedChangedAndDeleted_TheDirectoryFollowsTheReadyEndpoints()
    {
        await using var api = await FakeKubernetesApi.StartAsync();
        api.SetSlice("vllm-llama", "vllm-llama-a", 8000, ("10.0.0.1", true), ("10.0.0.2", false));
        api.SetSlice("other", "other-a", 8000, ("10.0.9.9", true));
        var directory = new ReplicaDirectory();
        using var watcher = Watcher(api, directory);
        await watcher.StartAsync(CancellationToken.None);

        await FollowsAsync(directory, "http://10.0.0.1:8000/");
        api.SetSlice("vllm-llama", "vllm-llama-a", 8000, ("10.0.0.1", true), ("10.0.0.2", true));
        await FollowsAsync(directory, "http://10.0.0.1:8000/", "http://10.0.0.2:8000/");
        api.SetSlice("vllm-llama", "vllm-llama-b", 8000, ("10.0.0.3", true));
        await FollowsAsync(directory, "http://10.0.0.1:8000/", "http://10.0.0.2:8000/", "http://10.0.0.3:8000/");
        api.DeleteSlice("vllm-llama-a");
        await FollowsAsync(directory, "http://10.0.0.3:8000/");

        Assert.Equal(1, api.Lists);
        await watcher.StopAsync(CancellationToken.None);
    }

    [Fact]
    public async Task Watch_CutByTheApiServer_ListsAgainAndCatchesUp()
    {
        await using var api = await FakeKubernetesApi.StartAsync();
        api.SetSlice("vllm-llama", "vllm-llama-a", 8000, ("10.0.0.1", true));
        var directory = new ReplicaDirectory();
        using var watcher = Watcher(api, directory);
        await watcher.StartAsync(CancellationToken.None);
        await FollowsAsync(directory, "http://10.0.0.1:8000/");
        await Eventually.TrueAsync(() => Task.FromResult(api.Watches == 1), () => "never watched");

        api.CutWatches();
        api.SetSlice("vllm-llama", "vllm-llama-a", 8000, ("10.0.0.1", false), ("10.0.0.4", true));

        await FollowsAsync(directory, "http://10.0.0.4:8000/");
        Assert.True(api.Lists >= 2, $"listed {api.Lists} times");
        await watcher.StopAsync(CancellationToken.None);
    }

    [Fact]
    public void ReadyAddresses_PortByNameIpv6AndUnsetReadiness()
    {
        var slice = new V1EndpointSlice
        {
            AddressType = "IPv6",
            Ports = [new Discoveryv1EndpointPort { Name = "metrics", Port = 9090 }, new Discoveryv1EndpointPort { Name = "http", Port = 8000 }],
            Endpoints =
            [
                new V1Endpoint { Addresses = ["fd00::1"], Conditions = new V1EndpointConditions { Ready = true } },
                new V1Endpoint { Addresses = ["fd00::2"], Conditions = new V1EndpointConditions { Ready = false } },
                new V1Endpoint { Addresses = ["fd00::3"] },
            ],
        };

        var addresses = EndpointSliceWatcher.ReadyAddresses(slice, new DiscoveryOptions { Service = "s", Port = "http", Scheme = "https" });

        Assert.Equal(["https://[fd00::1]:8000", "https://[fd00::3]:8000"], addresses);
        Assert.Empty(EndpointSliceWatcher.ReadyAddresses(slice, new DiscoveryOptions { Service = "s", Port = "grpc" }));
    }

    private static EndpointSliceWatcher Watcher(FakeKubernetesApi api, ReplicaDirectory directory) => new(
        Options.Create(new DispatcherOptions { Models = [new ModelOptions { Name = Model, Discovery = new DiscoveryOptions { Service = "vllm-llama" } }] }),
        Options.Create(new KubernetesOptions { ApiServer = api.Address, Namespace = FakeKubernetesApi.Namespace }),
        directory,
        TimeProvider.System,
        NullLogger<EndpointSliceWatcher>.Instance);

    private static Task FollowsAsync(ReplicaDirectory directory, params string[] expected) =>
        Eventually.TrueAsync(
            () => Task.FromResult(directory.Find(Model)?.Select(u => u.AbsoluteUri).SequenceEqual(expected) == true),
            () => $"directory has [{string.Join(", ", directory.Find(Model) ?? [])}], expected [{string.Join(", ", expected)}]");
}
