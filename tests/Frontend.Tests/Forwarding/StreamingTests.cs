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

    /// <summary>Runs requests one at a time (capacity 1) behind a holder and returns the order they were served in.</summary>
    private static async Task<List<string>> ServeInOrderAsync(DispatcherHost host, params (string Name, string Token, string Extra)[] requests)
    {
        var holder = host.CreateClient().PostAsync("/v1/chat/completions", DispatcherHost.Json(DispatcherHost.Chat(maxTokens: 30)));
        await Eventually.TrueAsync(async () => (await host.SnapshotAsync()).InFlight == 1, () => "holder not granted");

        var order = new List<string>();
        var running = new List<Task>();
        foreach (var (name, token, extra) in requests)
        {
            var waitingBefore = (await host.SnapshotAsync()).Waiting;
            running.Add(RunAsync(name, token, extra));
            await Eventually.TrueAsync(async () => (await host.SnapshotAsync()).Waiting == waitingBefore + 1, () => $"{name} not waiting");
        }

        (await holder).Dispose();
        await Task.WhenAll(running);
        await host.AssertDrainedAsync();
        return order;

        async Task RunAsync(string name, string token, string extra)
        {
            using var response = await host.CreateClient(token).PostAsync("/v1/chat/completions", DispatcherHost.Json(DispatcherHost.Chat(maxTokens: 2, extra: extra)));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            lock (order)
            {
                order.Add(name);
            }
        }
    }

    [Fact]
    public async Task Wait_QueueOfLowPriority_HighPriorityTokenOvertakesIt()
    {
        await using var host = await DispatcherHost.StartAsync(capacity: 1, emulator: o => o.StepBase = TimeSpan.FromMilliseconds(20),
            settings: new() { ["Dispatcher:Tokens:1:Threshold"] = "5" });

        var order = await ServeInOrderAsync(host,
            ("low0", DispatcherHost.LowToken, ""), ("low1", DispatcherHost.LowToken, ""), ("low2", DispatcherHost.LowToken, ""),
            ("low3", DispatcherHost.LowToken, ""), ("high", DispatcherHost.HighToken, ""));

        // Weighted fair queuing: the holder (also "high") still owns its last share, so high starts a tag after low0.
        Assert.Equal(["low0", "high", "low1", "low2", "low3"], order);
        host.AssertNoSecretLogged();
    }

    [Fact]
    public async Task Wait_StrictPolicyBodyLowersPriority_ServedAfterEarlierLowRequest()
    {
        await using var host = await DispatcherHost.StartAsync(capacity: 1, emulator: o => o.StepBase = TimeSpan.FromMilliseconds(20),
            settings: new() { ["Dispatcher:Scheduling:Policy"] = "Strict", ["Dispatcher:Tokens:1:Threshold"] = "5" });

        var lowered = await ServeInOrderAsync(host, ("low", DispatcherHost.LowToken, ""), ("high-lowered", DispatcherHost.HighToken, ",\"priority\":1"));
        var normal = await ServeInOrderAsync(host, ("low", DispatcherHost.LowToken, ""), ("high", DispatcherHost.HighToken, ""));

        Assert.Equal(["low", "high-lowered"], lowered);
        Assert.Equal(["high", "low"], normal);
    }

    [Fact]
    public async Task Wait_TokenAtMaxInFlight_SecondRequestWaitsDespiteFreeCapacity()
    {
        await using var host = await DispatcherHost.StartAsync(capacity: 4, emulator: o => o.StepBase = TimeSpan.FromMilliseconds(20),
            settings: new() { ["Dispatcher:Tokens:1:MaxInFlight"] = "1" });
        var http = host.CreateClient(DispatcherHost.LowToken);

        var first = http.PostAsync("/v1/chat/completions", DispatcherHost.Json(DispatcherHost.Chat(maxTokens: 40)));
        await Eventually.TrueAsync(async () => (await host.SnapshotAsync()).InFlight == 1, () => "first not granted");
        var second = http.PostAsync("/v1/chat/completions", DispatcherHost.Json(DispatcherHost.Chat(maxTokens: 2)));
        await Eventually.TrueAsync(async () => (await host.SnapshotAsync()).Waiting == 1, () => "second not held back");
        using (var other = await host.CreateClient().PostAsync("/v1/chat/completions", DispatcherHost.Json(DispatcherHost.Chat(maxTokens: 2))))
        {
            Assert.Equal(HttpStatusCode.OK, other.StatusCode); // another token passes the held-back request
        }

        Assert.False(second.IsCompleted);
        using (var done = await first)
        {
            Assert.Equal(HttpStatusCode.OK, done.StatusCode);
        }

        using (var done = await second)
        {
            Assert.Equal(HttpStatusCode.OK, done.StatusCode);
        }

        await host.AssertDrainedAsync();
    }

    [Fact]
    public async Task Forward_ClientPriority_RemovedByDefaultAndMappedWhenForwarded()
    {
        await using var plain = await DispatcherHost.StartAsync();
        using (var response = await plain.CreateClient().PostAsync("/v1/chat/completions", DispatcherHost.Json(DispatcherHost.Chat(extra: ",\"priority\":3"))))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        Assert.DoesNotContain("priority", plain.Replicas[0].LastRequestBody, StringComparison.Ordinal);

        await using var forwarding = await DispatcherHost.StartAsync(settings: new() { ["Dispatcher:Scheduling:ForwardPriority"] = "true" });
        using (var response = await forwarding.CreateClient().PostAsync("/v1/chat/completions", DispatcherHost.Json(DispatcherHost.Chat(extra: ",\"priority\":3"))))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        Assert.Contains("\"priority\":997", forwarding.Replicas[0].LastRequestBody, StringComparison.Ordinal);
        using (var response = await forwarding.CreateClient(DispatcherHost.LowToken).PostAsync("/v1/chat/completions", DispatcherHost.Json(DispatcherHost.Chat())))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        Assert.StartsWith("{\"priority\":999,", forwarding.Replicas[0].LastRequestBody, StringComparison.Ordinal);
    }
}
