using System.Net;
using System.Text.Json;
using Dispatcher.Grains.Abstractions.Leases;
using Dispatcher.Grains.Abstractions.Models;
using Dispatcher.Grains.Abstractions.Tokens;
using Dispatcher.Silo.Remote;
using Dispatcher.Silo.Tokens;
using Dispatcher.Testing;
using Npgsql;

namespace Dispatcher.Cluster.Tests;

/// <summary>A Frontend calling a silo in another host over the internal HTTP/2 protocol (no database: one silo).</summary>
public sealed class RemoteSiloTests
{
    private const string Model = "remote-model";
    private static readonly string TokenId = TokenHash.Compute(Fleet.Token);

    [Fact]
    public async Task Requests_ThroughRemoteSilo_AreServedAndCountedAndNothingStaysHeld()
    {
        await using var fleet = await Fleet.StartAsync([Model], replicasPerModel: 1, TimeSpan.FromMilliseconds(2));
        var settings = fleet.Settings(capacity: 4, tokenInConfiguration: true);
        await using var silo = await SiloNode.StartAsync("solo", postgres: null, settings);
        await using var frontend = await FrontendNode.StartAsync([silo.Address], settings);
        using var http = Fleet.Client(frontend.Address);

        using var plain = await http.PostAsync("/v1/chat/completions", Fleet.Chat(Model, 5, stream: false));
        Assert.Equal(HttpStatusCode.OK, plain.StatusCode);
        using var streamed = await http.PostAsync("/v1/chat/completions", Fleet.Chat(Model, 3, stream: true));
        Assert.Equal(HttpStatusCode.OK, streamed.StatusCode);
        Assert.EndsWith("data: [DONE]", (await streamed.Content.ReadAsStringAsync()).TrimEnd());

        using var calls = new SiloCalls();
        await AssertDrainedAsync(calls, silo.Address, completed: 2);
        Assert.Equal(2, fleet.AllReplicas.Sum(r => r.RequestIds.Count));
    }

    [Fact]
    public async Task WaitingRequest_ClientLeaves_TheSiloDropsItAtOnce()
    {
        await using var fleet = await Fleet.StartAsync([Model], replicasPerModel: 1, TimeSpan.FromMilliseconds(20));
        var settings = fleet.Settings(capacity: 1, tokenInConfiguration: true);
        await using var silo = await SiloNode.StartAsync("solo", postgres: null, settings);
        await using var frontend = await FrontendNode.StartAsync([silo.Address], settings);
        using var http = Fleet.Client(frontend.Address);
        using var calls = new SiloCalls();

        using var running = new CancellationTokenSource();
        var first = http.PostAsync("/v1/chat/completions", Fleet.Chat(Model, 500, stream: true), running.Token);
        await Eventually.TrueAsync(async () => (await SnapshotAsync(calls, silo.Address)).InFlight == 1, () => "first request not granted");
        using var waiting = new CancellationTokenSource();
        var second = http.PostAsync("/v1/chat/completions", Fleet.Chat(Model, 5, stream: false), waiting.Token);
        await Eventually.TrueAsync(async () => (await SnapshotAsync(calls, silo.Address)).Waiting == 1, () => "second request not waiting");

        await waiting.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => second);
        await Eventually.TrueAsync(async () => (await SnapshotAsync(calls, silo.Address)).Waiting == 0, () => "the abandoned request still waits");
        await running.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => first);
        await AssertDrainedAsync(calls, silo.Address, completed: null);
    }

    [Fact]
    public async Task LeaseCall_ReleasedExplicitly_EndsTheCallAndCountsTheUsage()
    {
        await using var fleet = await Fleet.StartAsync([Model], replicasPerModel: 1, TimeSpan.FromMilliseconds(2));
        await using var silo = await SiloNode.StartAsync("solo", postgres: null, fleet.Settings(capacity: 4, tokenInConfiguration: true));
        using var calls = new SiloCalls();

        using var call = await calls.OpenLeaseAsync(silo.Address, new LeaseCall(Model, new LeaseRequest("r-1", TokenId, 5)));
        Assert.Equal(HttpStatusCode.OK, call.StatusCode);
        Assert.Equal(SiloProtocol.LeaseEventsContentType, call.Content.Headers.ContentType?.MediaType);
        using var reader = new StreamReader(await call.Content.ReadAsStreamAsync());
        var queued = JsonSerializer.Deserialize<LeaseEvent>((await reader.ReadLineAsync())!, SiloProtocol.Json)!;
        Assert.Equal((LeaseEvent.Queued, 1), (queued.Type, queued.Position));
        var granted = (await SiloCalls.ReadDecisionAsync(reader))!;
        Assert.Equal(LeaseEvent.Granted, granted.Type);
        Assert.Equal(fleet.Replicas[Model][0].BaseAddress.AbsoluteUri.TrimEnd('/'), granted.Backend!.AbsoluteUri.TrimEnd('/'));
        Assert.Equal(1, (await SnapshotAsync(calls, silo.Address)).InFlight);

        var release = new LeaseRelease(granted.LeaseId!, LeaseEndReason.Completed, 200, new LeaseUsage(3, 7));
        Assert.Equal(HttpStatusCode.NoContent, await calls.ReleaseAsync(silo.Address, new ReleaseCall(Model, release)));
        Assert.Null(await reader.ReadLineAsync()); // the call ends with the release
        await AssertDrainedAsync(calls, silo.Address, completed: 1);
        Assert.Equal(7, (await CountersAsync(calls, silo.Address)).CompletionTokens);
    }

    [Fact]
    public async Task LeaseCall_Dropped_ReleasesTheLease()
    {
        await using var fleet = await Fleet.StartAsync([Model], replicasPerModel: 1, TimeSpan.FromMilliseconds(2));
        await using var silo = await SiloNode.StartAsync("solo", postgres: null, fleet.Settings(capacity: 4, tokenInConfiguration: true));
        using var calls = new SiloCalls();

        var call = await calls.OpenLeaseAsync(silo.Address, new LeaseCall(Model, new LeaseRequest("r-1", TokenId, 5)));
        using (var reader = new StreamReader(await call.Content.ReadAsStreamAsync()))
        {
            Assert.Equal(LeaseEvent.Granted, (await SiloCalls.ReadDecisionAsync(reader))!.Type);
            Assert.Equal(1, (await SnapshotAsync(calls, silo.Address)).InFlight);
        }

        call.Dispose(); // as a Frontend that crashed: the connection's stream is reset
        await AssertDrainedAsync(calls, silo.Address, completed: 1);
    }

    [Fact]
    public async Task LeaseCall_BodyWithoutRequest_Answers400()
    {
        await using var fleet = await Fleet.StartAsync([Model], replicasPerModel: 1, TimeSpan.FromMilliseconds(2));
        await using var silo = await SiloNode.StartAsync("solo", postgres: null, fleet.Settings(capacity: 4, tokenInConfiguration: true));
        using var calls = new SiloCalls();

        using var call = await calls.OpenLeaseAsync(silo.Address, new LeaseCall(Model, null!));
        Assert.Equal(HttpStatusCode.BadRequest, call.StatusCode);
    }

    [Fact]
    public async Task Frontend_NoSiloAnswers_AnswersAClear503()
    {
        await using var fleet = await Fleet.StartAsync([Model], replicasPerModel: 1, TimeSpan.FromMilliseconds(2));
        await using var frontend = await FrontendNode.StartAsync([$"http://127.0.0.1:{FreePort.Next()}"], fleet.Settings(capacity: 4, tokenInConfiguration: false));
        using var http = Fleet.Client(frontend.Address);

        using var response = await http.PostAsync("/v1/chat/completions", Fleet.Chat(Model, 5, stream: false));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        using var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.False(string.IsNullOrEmpty(error.RootElement.GetProperty("error").GetProperty("message").GetString()));
        Assert.Empty(fleet.AllReplicas.SelectMany(r => r.RequestIds));
    }

    [Fact]
    public async Task InternalKey_CallersWithoutItAreRefused_FrontendWithItIsServed()
    {
        const string key = "internal-key-0123456789";
        await using var fleet = await Fleet.StartAsync([Model], replicasPerModel: 1, TimeSpan.FromMilliseconds(2));
        var settings = fleet.Settings(capacity: 4, tokenInConfiguration: true);
        settings["Dispatcher:Cluster:InternalKey"] = key;
        await using var silo = await SiloNode.StartAsync("solo", postgres: null, settings);
        using var calls = new SiloCalls();

        using var call = await calls.OpenLeaseAsync(silo.Address, new LeaseCall(Model, new LeaseRequest("r-1", TokenId, 5)));
        Assert.Equal(HttpStatusCode.Unauthorized, call.StatusCode);

        await using (var keyless = await FrontendNode.StartAsync([silo.Address], fleet.Settings(capacity: 4, tokenInConfiguration: false)))
        {
            using var http = Fleet.Client(keyless.Address);
            using var refused = await http.PostAsync("/v1/chat/completions", Fleet.Chat(Model, 5, stream: false));
            Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        }

        var withKey = fleet.Settings(capacity: 4, tokenInConfiguration: false);
        withKey["Dispatcher:Silo:InternalKey"] = key;
        await using var frontend = await FrontendNode.StartAsync([silo.Address], withKey);
        using var client = Fleet.Client(frontend.Address);
        using var served = await client.PostAsync("/v1/chat/completions", Fleet.Chat(Model, 5, stream: false));
        Assert.Equal(HttpStatusCode.OK, served.StatusCode);
        Assert.DoesNotContain(silo.Logs.Lines.Concat(frontend.Logs.Lines), l => l.Contains(key, StringComparison.Ordinal));
    }

    [Fact]
    public async Task TokenPolicy_CachedByTheFrontend_RevokedTokenIsStillRefusedByTheSilo()
    {
        var postgres = await (await PostgresServer.SharedAsync()).CreateDatabaseAsync();
        await Fleet.PutTokenAsync(postgres);
        await using var fleet = await Fleet.StartAsync([Model], replicasPerModel: 1, TimeSpan.FromMilliseconds(2));
        var settings = fleet.Settings(capacity: 4, tokenInConfiguration: false);
        await using var silo = await SiloNode.StartAsync("solo", postgres, settings);
        await Eventually.TrueAsync(() => silo.Hosts(Model), () => "the silo did not take the model");
        var cached = new Dictionary<string, string?>(settings) { ["Dispatcher:Silo:TokenCacheTtl"] = "00:10:00" };
        await using var frontend = await FrontendNode.StartAsync([silo.Address], cached);
        using var http = Fleet.Client(frontend.Address);

        for (var i = 0; i < 3; i++)
        {
            using var served = await http.PostAsync("/v1/chat/completions", Fleet.Chat(Model, 2, stream: false));
            Assert.Equal(HttpStatusCode.OK, served.StatusCode);
        }

        await using (var dataSource = NpgsqlDataSource.Create(postgres))
        {
            Assert.True(await new TokenAdmin(dataSource).RevokeAsync(Fleet.TokenName, CancellationToken.None));
        }

        // The Frontend still has the policy; the silo, told by the store, refuses the request when it is queued.
        HttpResponseMessage? refused = null;
        await Eventually.TrueAsync(async () =>
        {
            refused?.Dispose();
            refused = await http.PostAsync("/v1/chat/completions", Fleet.Chat(Model, 2, stream: false));
            return refused.StatusCode == HttpStatusCode.Unauthorized;
        }, () => $"the revoked token is still served ({refused?.StatusCode})");
        using var error = JsonDocument.Parse(await refused!.Content.ReadAsStringAsync());
        Assert.Equal("invalid_api_key", error.RootElement.GetProperty("error").GetProperty("code").GetString());
        refused.Dispose();

        // Refused where the request was queued, not at authentication: the Frontend answered from its cache.
        var metrics = await http.GetStringAsync("/metrics");
        Assert.Contains(metrics.Split('\n'), l => l.StartsWith("dispatcher_requests_total{", StringComparison.Ordinal) && l.Contains("outcome=\"token_rejected\"", StringComparison.Ordinal));
        Assert.DoesNotContain(metrics.Split('\n'), l => l.StartsWith("dispatcher_auth_failures_total{", StringComparison.Ordinal) && l.Contains("reason=\"unknown\"", StringComparison.Ordinal));
        using var calls = new SiloCalls();
        await AssertDrainedAsync(calls, silo.Address, completed: null);
    }

    internal static async Task<ModelSnapshot> SnapshotAsync(SiloCalls calls, string silo, string model = Model) =>
        (await calls.GetAsync<ModelSnapshot>(silo, $"{SiloProtocol.SnapshotPath}?model={Uri.EscapeDataString(model)}"))!;

    internal static async Task<TokenCounters> CountersAsync(SiloCalls calls, string silo) =>
        (await calls.GetAsync<TokenCounters>(silo, SiloProtocol.TokenCountersPath(TokenId)))!;

    private static async Task AssertDrainedAsync(SiloCalls calls, string silo, long? completed)
    {
        await Eventually.TrueAsync(async () =>
        {
            var snapshot = await SnapshotAsync(calls, silo);
            var counters = await CountersAsync(calls, silo);
            return snapshot is { Waiting: 0, InFlight: 0 } && counters is { Waiting: 0, InFlight: 0 } && (completed is null || counters.Completed == completed);
        }, () => $"not drained: {SnapshotAsync(calls, silo).Result}, {CountersAsync(calls, silo).Result}");
    }
}
