using System.Net;
using Dispatcher.Testing;

namespace Dispatcher.Frontend.Tests.Forwarding;

/// <summary>Streams flow chunk by chunk, leases follow the request's life, and client aborts reach vLLM.</summary>
public sealed class StreamingTests
{
    private static HttpRequestMessage ChatRequest(int maxTokens) =>
        new(HttpMethod.Post, "/v1/chat/completions") { Content = DispatcherHost.Json(DispatcherHost.Chat(stream: true, maxTokens: maxTokens)) };

    [Fact]
    public async Task Stream_FirstEventArrivesWhileReplicaStillGenerates()
    {
        await using var host = await DispatcherHost.StartAsync(emulator: o => o.StepBase = TimeSpan.FromMilliseconds(50));
        var replica = host.Replicas[0];
        var http = host.CreateClient();

        using var response = await http.SendAsync(ChatRequest(maxTokens: 100), HttpCompletionOption.ResponseHeadersRead);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        var first = await reader.ReadLineAsync();

        var stats = replica.Engine.Stats();
        Assert.StartsWith("data: {", first, StringComparison.Ordinal);
        Assert.True(stats.Running == 1 && stats.Completed == 0 && stats.GenerationTokens < 100,
            $"the first event came after generation: {stats}");
        var rest = await reader.ReadToEndAsync();
        Assert.EndsWith("data: [DONE]\n\n", rest, StringComparison.Ordinal);
        await host.AssertDrainedAsync();
    }

    [Fact]
    public async Task Stream_ClientDisconnects_LeaseReleasedAndUpstreamAborted()
    {
        await using var host = await DispatcherHost.StartAsync(emulator: o => o.StepBase = TimeSpan.FromMilliseconds(50));
        var replica = host.Replicas[0];
        var http = host.CreateClient();

        var response = await http.SendAsync(ChatRequest(maxTokens: 1000), HttpCompletionOption.ResponseHeadersRead);
        var stream = await response.Content.ReadAsStreamAsync();
        var buffer = new byte[64];
        Assert.True(await stream.ReadAsync(buffer) > 0);
        Assert.Equal(1, (await host.SnapshotAsync()).InFlight);

        response.Dispose();

        await Eventually.TrueAsync(() => replica.Engine.Stats().Aborted == 1, () => $"replica never saw the abort: {replica.Engine.Stats()}");
        await host.AssertDrainedAsync();
        Assert.True(replica.Engine.Stats().GenerationTokens < 1000);
    }

    [Fact]
    public async Task Wait_ClientDisconnects_RemovedFromWaitListAndNeverForwarded()
    {
        await using var host = await DispatcherHost.StartAsync(capacity: 1, emulator: o => o.StepBase = TimeSpan.FromMilliseconds(20));
        var replica = host.Replicas[0];
        var holder = host.CreateClient().PostAsync("/v1/chat/completions", DispatcherHost.Json(DispatcherHost.Chat(maxTokens: 50)));
        await Eventually.TrueAsync(async () => (await host.SnapshotAsync()).InFlight == 1, () => "holder not granted");

        using var cancel = new CancellationTokenSource();
        var waiter = host.CreateClient(DispatcherHost.LowToken).PostAsync("/v1/chat/completions", DispatcherHost.Json(DispatcherHost.Chat()), cancel.Token);
        await Eventually.TrueAsync(async () => (await host.SnapshotAsync()).Waiting == 1, () => "second request not waiting");
        Assert.Equal(1, (await host.CountersAsync(DispatcherHost.LowToken)).Waiting);

        await cancel.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiter);
        await Eventually.TrueAsync(async () => (await host.SnapshotAsync()).Waiting == 0, () => "cancelled request still waiting");
        Assert.Equal(0, (await host.CountersAsync(DispatcherHost.LowToken)).Waiting);
        using var held = await holder;
        Assert.Equal(HttpStatusCode.OK, held.StatusCode);
        await host.AssertDrainedAsync();
        Assert.Equal(1, replica.Engine.Stats().Received);
    }

    [Fact]
    public async Task Wait_ReplicaFull_HigherPriorityServedFirst()
    {
        await using var host = await DispatcherHost.StartAsync(capacity: 1, emulator: o => o.StepBase = TimeSpan.FromMilliseconds(20),
            settings: new() { ["Dispatcher:Tokens:1:Threshold"] = "5" });
        var holder = host.CreateClient().PostAsync("/v1/chat/completions", DispatcherHost.Json(DispatcherHost.Chat(maxTokens: 30)));
        await Eventually.TrueAsync(async () => (await host.SnapshotAsync()).InFlight == 1, () => "holder not granted");

        var order = new List<string>();
        async Task RunAsync(string name, string token)
        {
            using var response = await host.CreateClient(token).PostAsync("/v1/chat/completions", DispatcherHost.Json(DispatcherHost.Chat(maxTokens: 2)));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            lock (order)
            {
                order.Add(name);
            }
        }

        var low = RunAsync("low", DispatcherHost.LowToken);
        await Eventually.TrueAsync(async () => (await host.SnapshotAsync()).Waiting == 1, () => "low not waiting");
        var high = RunAsync("high", DispatcherHost.HighToken);
        await Eventually.TrueAsync(async () => (await host.SnapshotAsync()).Waiting == 2, () => "high not waiting");

        (await holder).Dispose();
        await Task.WhenAll(low, high);

        Assert.Equal(["high", "low"], order);
        await host.AssertDrainedAsync();
        host.AssertNoSecretLogged();
    }
}
