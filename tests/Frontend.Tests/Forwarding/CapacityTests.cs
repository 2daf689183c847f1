using System.Globalization;
using System.Net;
using Dispatcher.Testing;

namespace Dispatcher.Frontend.Tests.Forwarding;

/// <summary>Admission follows the replicas' live metrics; failed replicas are ejected and come back.</summary>
[Collection(TimingSensitive.Name)]
public sealed class CapacityTests
{
    private const double Floor = 20;

    [Fact]
    public async Task Burst_TwoReplicasOfDifferentSpeed_LoadFollowsCapacityAboveTheFloorAndWaitsInOurQueue()
    {
        // Per-user rate 1/(a + b*running): the fast replica keeps 20 tokens/s up to 18 running, the slow one up to 9.
        await using var host = await DispatcherHost.StartAsync(replicas: 2, capacity: 1000, settings: new()
        {
            ["Dispatcher:Models:0:MinTokensPerSecond"] = Floor.ToString(CultureInfo.InvariantCulture),
            ["Dispatcher:Capacity:EstimationWindow"] = "00:00:02",
            ["Dispatcher:Tokens:0:Threshold"] = "100",
            ["Dispatcher:QueueTimeout"] = "00:02:00",
        });
        var (fast, slow) = (host.Replicas[0], host.Replicas[1]);
        fast.Options.StepBase = slow.Options.StepBase = TimeSpan.FromMilliseconds(5);
        fast.Options.StepPerRunning = TimeSpan.FromMilliseconds(2.5);
        slow.Options.StepPerRunning = TimeSpan.FromMilliseconds(5);

        var http = host.CreateClient();
        var mostWaiting = 0;
        var requests = Enumerable.Range(0, 45)
            .Select(_ => http.PostAsync("/v1/chat/completions", DispatcherHost.Json(DispatcherHost.Chat(maxTokens: 60))))
            .ToList();
        while (!requests.TrueForAll(r => r.IsCompleted))
        {
            mostWaiting = Math.Max(mostWaiting, (await host.SnapshotAsync()).Waiting);
            await Task.WhenAny(Task.WhenAll(requests), Task.Delay(50));
        }

        foreach (var response in await Task.WhenAll(requests))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            response.Dispose();
        }

        var (f, s) = (fast.Engine.Stats(), slow.Engine.Stats());
        // The emulated GPUs' per-user rate at the most requests they ever ran at once must be at or above the floor.
        // (Their wall-clock rates, SlowestDecodeRate in the message, also carry this shared machine's timer jitter.)
        var fastRate = 1 / (0.005 + (0.0025 * f.MaxRunning));
        var slowRate = 1 / (0.005 + (0.005 * s.MaxRunning));
        Assert.True(fastRate >= Floor && slowRate >= Floor, $"under the floor: fast {fastRate:0.0} tokens/s ({f}), slow {slowRate:0.0} ({s})");
        Assert.True(f.MaxRunning > s.MaxRunning && f.Received > s.Received, $"load did not follow capacity: fast {f}, slow {s}");
        Assert.True(f.MaxWaiting == 0 && s.MaxWaiting == 0, $"requests queued inside vLLM: fast {f}, slow {s}");
        Assert.True(mostWaiting > 0, "the burst never waited in the dispatcher's queue");
        await host.AssertDrainedAsync();
    }

    [Fact]
    public async Task ReplicaKilledUnderLoad_OtherServesNewRequestsAndItIsUsedAgainAfterRestart()
    {
        await using var host = await DispatcherHost.StartAsync(replicas: 2, capacity: 4, emulator: o => o.StepBase = TimeSpan.FromMilliseconds(10),
            settings: new() { ["Dispatcher:Capacity:MaxProbeBackoff"] = "00:00:00.500", ["Dispatcher:Tokens:0:Threshold"] = "100" });
        var (survivor, victim) = (host.Replicas[0], host.Replicas[1]);
        var http = host.CreateClient();
        using var stop = new CancellationTokenSource();
        var results = new System.Collections.Concurrent.ConcurrentQueue<(DateTime Started, HttpStatusCode Status)>();
        var clients = Enumerable.Range(0, 6).Select(_ => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                var started = DateTime.UtcNow;
                try
                {
                    using var response = await http.PostAsync("/v1/chat/completions", DispatcherHost.Json(DispatcherHost.Chat(maxTokens: 10)));
                    await response.Content.ReadAsStringAsync();
                    results.Enqueue((started, response.StatusCode));
                }
                catch (HttpRequestException)
                {
                    results.Enqueue((started, HttpStatusCode.InternalServerError)); // a stream cut when its replica died
                }
            }
        })).ToList();

        await Eventually.TrueAsync(() => victim.Engine.Stats().Completed >= 5 && survivor.Engine.Stats().Completed >= 5, () => "both replicas not in use");
        await victim.StopAsync();
        var killedAt = DateTime.UtcNow;
        await Eventually.TrueAsync(async () => (await host.SnapshotAsync()).Backends.Any(b => !b.Snapshot.Healthy), () => "killed replica not ejected");
        var ejectedAt = DateTime.UtcNow;
        var servedBefore = survivor.Engine.Stats().Completed;
        await Eventually.TrueAsync(() => survivor.Engine.Stats().Completed >= servedBefore + 20, () => "survivor did not take the load");

        await victim.RestartAsync();
        await Eventually.TrueAsync(() => victim.Engine.Stats().Completed >= 3, () => "restarted replica never used again");
        await stop.CancelAsync();
        await Task.WhenAll(clients);

        var afterEjection = results.Where(r => r.Started > ejectedAt).ToList();
        Assert.NotEmpty(afterEjection);
        Assert.All(afterEjection, r => Assert.Equal(HttpStatusCode.OK, r.Status));
        Assert.True(results.Count(r => r.Status != HttpStatusCode.OK) <= 6, "more failures than requests in flight at the kill");
        Assert.True(killedAt < ejectedAt);
        await host.AssertDrainedAsync();
    }
}
