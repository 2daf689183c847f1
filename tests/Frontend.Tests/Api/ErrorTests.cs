using System.Net;
using System.Text.Json;
using Dispatcher.Testing;
using Dispatcher.VllmEmulator;

namespace Dispatcher.Frontend.Tests.Api;

/// <summary>Every bad input gets the right status and OpenAI's error envelope; vLLM's own errors pass through.</summary>
public sealed class ErrorTests
{
    private static async Task<JsonElement> AssertErrorAsync(HttpResponseMessage response, HttpStatusCode status, string code)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(status == response.StatusCode, $"expected {status}, got {response.StatusCode}: {body}");
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var error = JsonDocument.Parse(body).RootElement.GetProperty("error");
        Assert.Equal(code, error.GetProperty("code").GetString());
        Assert.False(string.IsNullOrWhiteSpace(error.GetProperty("message").GetString()));
        Assert.Equal(JsonValueKind.String, error.GetProperty("type").ValueKind);
        Assert.True(error.TryGetProperty("param", out _), "error without param");
        return error;
    }

    [Fact]
    public async Task Post_NoOrUnknownToken_Answers401()
    {
        await using var host = await DispatcherHost.StartAsync();

        using var missing = await host.CreateClient(token: null).PostAsync("/v1/chat/completions", DispatcherHost.Json(DispatcherHost.Chat()));
        await AssertErrorAsync(missing, HttpStatusCode.Unauthorized, "missing_api_key");
        using var unknown = await host.CreateClient("sk-not-a-token").PostAsync("/v1/chat/completions", DispatcherHost.Json(DispatcherHost.Chat()));
        await AssertErrorAsync(unknown, HttpStatusCode.Unauthorized, "invalid_api_key");
        using var models = await host.CreateClient("sk-not-a-token").GetAsync("/v1/models");
        await AssertErrorAsync(models, HttpStatusCode.Unauthorized, "invalid_api_key");
        Assert.Equal(0, host.Replicas[0].Engine.Stats().Received);
    }

    [Fact]
    public async Task Refusals_OnOneKeptAliveConnection_EachAnsweredAndTheConnectionServesOn()
    {
        await using var host = await DispatcherHost.StartAsync();
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 1 }) { BaseAddress = host.BaseAddress, Timeout = Eventually.Limit };

        // Refused by the token filter (no token, an unknown one), then served: all on the one connection.
        foreach (var (token, status) in new[] { ((string?)null, HttpStatusCode.Unauthorized), ("sk-not-a-token", HttpStatusCode.Unauthorized), (DispatcherHost.HighToken, HttpStatusCode.OK) })
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = DispatcherHost.Json(DispatcherHost.Chat()) };
            request.Headers.Authorization = token is null ? null : new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
            using var response = await http.SendAsync(request);
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(status == response.StatusCode, $"expected {status}, got {response.StatusCode}: {body}");
            Assert.Equal(response.Content.Headers.ContentLength ?? body.Length, System.Text.Encoding.UTF8.GetByteCount(body));
        }

        // A refusal that went on writing after its answer threw in the server, which then closed the connection (a client
        // reusing it could fail its next request); .NET's HttpClient hides that by reconnecting, the log does not.
        var thrown = host.Logs.Lines.Where(l => l.Contains("unhandled exception", StringComparison.OrdinalIgnoreCase)).ToList();
        Assert.True(thrown.Count == 0, string.Join(Environment.NewLine, thrown));
        await host.AssertDrainedAsync();
    }

    [Theory]
    [InlineData("{\"model\":", "invalid_json")]
    [InlineData("[1,2]", "invalid_json")]
    [InlineData("{\"model\":\"test-model\"} trailing", "invalid_json")]
    [InlineData("{\"messages\":[]}", "invalid_value")]
    [InlineData("{\"model\":42}", "invalid_value")]
    [InlineData("{\"model\":\"test-model\",\"model\":\"other\"}", "invalid_value")]
    [InlineData("{\"model\":\"test-model\",\"stream\":\"yes\"}", "invalid_value")]
    [InlineData("{\"model\":\"test-model\",\"priority\":0}", "invalid_value")]
    [InlineData("{\"model\":\"test-model\",\"priority\":1001}", "invalid_value")]
    public async Task Post_BadBody_Answers400(string body, string code)
    {
        await using var host = await DispatcherHost.StartAsync();

        using var response = await host.CreateClient().PostAsync("/v1/chat/completions", DispatcherHost.Json(body));

        await AssertErrorAsync(response, HttpStatusCode.BadRequest, code);
        await host.AssertDrainedAsync();
    }

    [Fact]
    public async Task Post_UnknownModel_Answers404()
    {
        await using var host = await DispatcherHost.StartAsync();

        using var response = await host.CreateClient().PostAsync("/v1/chat/completions", DispatcherHost.Json(DispatcherHost.Chat(model: "gpt-17")));

        var error = await AssertErrorAsync(response, HttpStatusCode.NotFound, "model_not_found");
        Assert.Equal("model", error.GetProperty("param").GetString());
    }

    [Fact]
    public async Task Post_NotJsonOrTooLarge_Answers415Or413()
    {
        await using var host = await DispatcherHost.StartAsync(settings: new() { ["Dispatcher:Forwarding:MaxRequestBodySize"] = "1024" });
        var http = host.CreateClient();

        using var text = await http.PostAsync("/v1/chat/completions", new StringContent(DispatcherHost.Chat()));
        await AssertErrorAsync(text, HttpStatusCode.UnsupportedMediaType, "unsupported_media_type");
        var huge = DispatcherHost.Chat(extra: $",\"padding\":\"{new string('x', 4096)}\"");
        using var declared = await http.PostAsync("/v1/chat/completions", DispatcherHost.Json(huge));
        await AssertErrorAsync(declared, HttpStatusCode.RequestEntityTooLarge, "request_too_large");

        // Without Content-Length (chunked) the limit trips while reading. The server may answer before the client
        // has sent everything, so the request goes out in one write on a raw socket, then the answer is read.
        var chunk = $"{huge.Length:x}\r\n{huge}\r\n0\r\n\r\n";
        var raw = $"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {DispatcherHost.HighToken}\r\n"
            + $"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{chunk}";
        var answer = await DispatcherHost.SendRawAsync(host.BaseAddress, raw);
        Assert.StartsWith("HTTP/1.1 413", answer, StringComparison.Ordinal);
        Assert.Contains("\"code\":\"request_too_large\"", answer, StringComparison.Ordinal);
        Assert.Equal(0, host.Replicas[0].Engine.Stats().Received);
    }

    [Fact]
    public async Task Post_TokenOverThreshold_Answers429WithRetryAfter()
    {
        await using var host = await DispatcherHost.StartAsync(capacity: 1, emulator: o => o.StepBase = TimeSpan.FromMilliseconds(20));
        var http = host.CreateClient(DispatcherHost.LowToken);
        var holder = host.CreateClient(DispatcherHost.HighToken).PostAsync("/v1/chat/completions", DispatcherHost.Json(DispatcherHost.Chat(maxTokens: 100)));
        await Dispatcher.Testing.Eventually.TrueAsync(async () => (await host.SnapshotAsync()).InFlight == 1, () => "holder not granted");
        var waiting = new[]
        {
            http.PostAsync("/v1/chat/completions", DispatcherHost.Json(DispatcherHost.Chat(maxTokens: 1))),
            http.PostAsync("/v1/chat/completions", DispatcherHost.Json(DispatcherHost.Chat(maxTokens: 1))),
        };
        await Dispatcher.Testing.Eventually.TrueAsync(async () => (await host.SnapshotAsync()).Waiting == 2, () => "the low token's two requests are not waiting");

        using var refused = await http.PostAsync("/v1/chat/completions", DispatcherHost.Json(DispatcherHost.Chat()));

        await AssertErrorAsync(refused, HttpStatusCode.TooManyRequests, "too_many_waiting_requests");
        Assert.Equal("2", refused.Headers.GetValues("Retry-After").Single());
        (await holder).Dispose();
        foreach (var response in await Task.WhenAll(waiting))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            response.Dispose();
        }

        await host.AssertDrainedAsync();
    }

    [Fact]
    public async Task Post_WaitsPastQueueTimeout_Answers503WithRetryAfter()
    {
        await using var host = await DispatcherHost.StartAsync(capacity: 1, emulator: o => o.StepBase = TimeSpan.FromMilliseconds(20),
            settings: new() { ["Dispatcher:QueueTimeout"] = "00:00:00.200" });
        var holder = host.CreateClient().PostAsync("/v1/chat/completions", DispatcherHost.Json(DispatcherHost.Chat(maxTokens: 200)));
        await Dispatcher.Testing.Eventually.TrueAsync(async () => (await host.SnapshotAsync()).InFlight == 1, () => "holder not granted");

        using var timedOut = await host.CreateClient(DispatcherHost.LowToken).PostAsync("/v1/chat/completions", DispatcherHost.Json(DispatcherHost.Chat()));

        await AssertErrorAsync(timedOut, HttpStatusCode.ServiceUnavailable, "queue_timeout");
        Assert.True(timedOut.Headers.Contains("Retry-After"));
        Assert.Equal(0, (await host.CountersAsync(DispatcherHost.LowToken)).Waiting);
        (await holder).Dispose();
        await host.AssertDrainedAsync();
    }

    [Fact]
    public async Task Post_ReplicaAnswersError_StatusAndBodyPassThroughUnchanged()
    {
        await using var host = await DispatcherHost.StartAsync();
        var replica = host.Replicas[0];
        var badRequest = DispatcherHost.Chat(extra: ",\"stream_options\":{\"include_usage\":true}");
        using var direct = new HttpClient { BaseAddress = replica.BaseAddress };
        using var directAnswer = await direct.PostAsync("/v1/chat/completions", DispatcherHost.Json(badRequest));
        var expected = await directAnswer.Content.ReadAsStringAsync();

        using var forwarded = await host.CreateClient().PostAsync("/v1/chat/completions", DispatcherHost.Json(badRequest));

        Assert.Equal(HttpStatusCode.BadRequest, forwarded.StatusCode);
        Assert.Equal(expected, await forwarded.Content.ReadAsStringAsync());
        Assert.Contains("Stream options can only be defined", expected, StringComparison.Ordinal);

        const string crash = "{\"error\":{\"message\":\"EngineCore died\",\"type\":\"InternalServerError\",\"param\":null,\"code\":500}}";
        replica.Faults.Set(new FaultPlan(Status: 500, Body: crash));
        using var failed = await host.CreateClient().PostAsync("/v1/chat/completions", DispatcherHost.Json(DispatcherHost.Chat(stream: true)));
        Assert.Equal(HttpStatusCode.InternalServerError, failed.StatusCode);
        Assert.Equal(crash, await failed.Content.ReadAsStringAsync());
        await host.AssertDrainedAsync();
    }

    [Fact]
    public async Task Post_ReplicaNeedsApiKey_ClientTokenNeverReachesItAndConfiguredKeyDoes()
    {
        await using var host = await DispatcherHost.StartAsync(replicas: 1, emulator: o => o.ApiKey = "replica-key");

        using var rejected = await host.CreateClient().PostAsync("/v1/chat/completions", DispatcherHost.Json(DispatcherHost.Chat()));

        Assert.Equal(HttpStatusCode.Unauthorized, rejected.StatusCode);
        Assert.Equal("{\"error\":\"Unauthorized\"}", await rejected.Content.ReadAsStringAsync());

        await using var keyed = await DispatcherHost.StartAsync(replicas: 1, emulator: o => o.ApiKey = "replica-key",
            settings: new() { ["Dispatcher:Models:0:ApiKey"] = "replica-key" });
        using var accepted = await keyed.CreateClient().PostAsync("/v1/chat/completions", DispatcherHost.Json(DispatcherHost.Chat()));
        Assert.Equal(HttpStatusCode.OK, accepted.StatusCode);
        await keyed.AssertDrainedAsync();
    }

    private static async Task<string> ClosedAddressAsync()
    {
        var closed = await EmulatorServer.StartAsync(new EmulatorOptions());
        var address = closed.BaseAddress.AbsoluteUri;
        await closed.DisposeAsync();
        return address;
    }

    [Fact]
    public async Task Post_OnlyReplicaUnreachable_Answers503AndReleasesTheLease()
    {
        await using var host = await DispatcherHost.StartAsync(replicas: 0, extraBackends: [await ClosedAddressAsync()]);

        using var response = await host.CreateClient().PostAsync("/v1/chat/completions", DispatcherHost.Json(DispatcherHost.Chat()));

        await AssertErrorAsync(response, HttpStatusCode.ServiceUnavailable, "no_healthy_backend");
        Assert.True(response.Headers.Contains("Retry-After"));
        await host.AssertDrainedAsync();
    }

    [Fact]
    public async Task Post_BothTriesUnreachable_Answers502AndReleasesTheLeases()
    {
        await using var host = await DispatcherHost.StartAsync(replicas: 0, extraBackends: [await ClosedAddressAsync(), await ClosedAddressAsync()],
            settings: new() { ["Dispatcher:Capacity:UseMetrics"] = "false" });

        using var response = await host.CreateClient().PostAsync("/v1/chat/completions", DispatcherHost.Json(DispatcherHost.Chat()));

        await AssertErrorAsync(response, HttpStatusCode.BadGateway, "upstream_unreachable");
        await host.AssertDrainedAsync();
    }

    [Fact]
    public async Task Post_OneReplicaUnreachable_RetriedOnTheOtherBeforeAnyByte()
    {
        await using var host = await DispatcherHost.StartAsync(replicas: 1, extraBackends: [await ClosedAddressAsync()],
            settings: new() { ["Dispatcher:Capacity:UseMetrics"] = "false" });

        for (var i = 0; i < 4; i++)
        {
            using var response = await host.CreateClient().PostAsync("/v1/chat/completions", DispatcherHost.Json(DispatcherHost.Chat()));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        Assert.Equal(4, host.Replicas[0].Engine.Stats().Completed);
        var dead = (await host.SnapshotAsync()).Backends.Single(b => b.Snapshot.Address != new Uri(host.Replicas[0].BaseAddress.AbsoluteUri.TrimEnd('/')));
        Assert.False(dead.Snapshot.Healthy);
        await host.AssertDrainedAsync();
    }

    [Fact]
    public async Task UnknownRouteAndHealth_AnswerWithoutForwarding()
    {
        await using var host = await DispatcherHost.StartAsync();
        var anonymous = host.CreateClient(token: null);

        using var live = await anonymous.GetAsync("/health/live");
        using var ready = await anonymous.GetAsync("/health/ready");
        Assert.Equal(HttpStatusCode.OK, live.StatusCode);
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);

        using var unknown = await host.CreateClient().DeleteAsync("/v1/files/abc");
        await AssertErrorAsync(unknown, HttpStatusCode.MethodNotAllowed, "method_not_allowed");
        using var metrics = await host.CreateClient().GetAsync("/metrics"); // the dispatcher's own, never a replica's
        Assert.DoesNotContain("vllm:", await metrics.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(0, host.Replicas[0].Engine.Stats().Received);
    }
}
