using System.Net;
using Dispatcher.Grains.Metrics;
using Dispatcher.Testing;

namespace Dispatcher.Frontend.Tests.Telemetry;

public sealed class MetricsTests
{
    private static double Sum(ParsedMetrics metrics, string name, params (string Label, string Value)[] match) =>
        metrics.Samples.Where(s => s.Name == name && match.All(m => s.Label(m.Label) == m.Value)).Sum(s => s.Value);

    [Fact]
    public async Task Metrics_AfterARealRun_CountWhatHappenedAndDrainToZero()
    {
        await using var host = await DispatcherHost.StartAsync(capacity: 1, emulator: o => o.StepBase = TimeSpan.FromMilliseconds(20));
        var holder = host.CreateClient().PostAsync("/v1/chat/completions", DispatcherHost.Json(DispatcherHost.Chat(maxTokens: 40)));
        await Eventually.TrueAsync(async () => (await host.SnapshotAsync()).InFlight == 1, () => "holder not granted");
        var low = host.CreateClient(DispatcherHost.LowToken);
        var waiting = new[]
        {
            low.PostAsync("/v1/chat/completions", DispatcherHost.Json(DispatcherHost.Chat(maxTokens: 2))),
            low.PostAsync("/v1/chat/completions", DispatcherHost.Json(DispatcherHost.Chat(maxTokens: 2))),
        };
        await Eventually.TrueAsync(async () => (await host.SnapshotAsync()).Waiting == 2, () => "two not waiting");

        var during = PrometheusTextParser.Parse(await host.CreateClient(token: null).GetStringAsync("/metrics"));
        Assert.Equal(2, Sum(during, "dispatcher_waiting", ("model", DispatcherHost.Model), ("priority_class", "1")));
        Assert.Equal(1, Sum(during, "dispatcher_in_flight", ("model", DispatcherHost.Model)));

        using (var refused = await low.PostAsync("/v1/chat/completions", DispatcherHost.Json(DispatcherHost.Chat())))
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        }

        using (var unauthorized = await host.CreateClient("sk-wrong").PostAsync("/v1/chat/completions", DispatcherHost.Json(DispatcherHost.Chat())))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, unauthorized.StatusCode);
        }

        (await holder).Dispose();
        foreach (var response in await Task.WhenAll(waiting))
        {
            response.Dispose();
        }

        await host.AssertDrainedAsync();

        // The model's replicas (counted in its grain's one-second sweep): one serving, with room once nothing runs.
        var scraper = host.CreateClient(token: null);
        await Eventually.TrueAsync(async () =>
        {
            var replicas = PrometheusTextParser.Parse(await scraper.GetStringAsync("/metrics"));
            return Sum(replicas, "dispatcher_model_replicas", ("model", DispatcherHost.Model), ("state", "serving")) == 1
                && Sum(replicas, "dispatcher_model_replicas", ("model", DispatcherHost.Model), ("state", "with_room")) == 1
                && Sum(replicas, "dispatcher_model_replicas", ("model", DispatcherHost.Model), ("state", "draining")) == 0;
        }, () => "dispatcher_model_replicas does not show one serving replica with room");
        var text = await host.CreateClient(token: null).GetStringAsync("/metrics");
        var after = PrometheusTextParser.Parse(text);

        Assert.Empty(after.Errors);
        Assert.Equal(3, Sum(after, "dispatcher_requests_total", ("outcome", "granted"), ("status_class", "2xx")));
        Assert.Equal(2, Sum(after, "dispatcher_requests_total", ("outcome", "granted"), ("priority_class", "1")));
        Assert.Equal(1, Sum(after, "dispatcher_requests_total", ("outcome", "rejected_threshold")));
        Assert.Equal(1, Sum(after, "dispatcher_auth_failures_total", ("reason", "unknown")));
        Assert.Equal(0, Sum(after, "dispatcher_waiting"));
        Assert.Equal(0, Sum(after, "dispatcher_in_flight"));
        Assert.Equal(3, Sum(after, "dispatcher_queue_wait_seconds_count"));
        Assert.Equal(3, Sum(after, "dispatcher_queue_wait_seconds_bucket", ("le", "+Inf")));
        Assert.True(Sum(after, "dispatcher_queue_wait_seconds_sum", ("priority_class", "1")) > 0, "the waiters' wait was not measured");
        Assert.Equal(3, Sum(after, "dispatcher_lease_duration_seconds_count", ("reason", "Completed")));
        Assert.Equal(1, Sum(after, "dispatcher_replica_healthy"));
        Assert.True(Sum(after, "dispatcher_token_store_lookups_total") > 0);
        Assert.Equal("counter", after.Types["dispatcher_requests_total"]);
        Assert.Equal("histogram", after.Types["dispatcher_queue_wait_seconds"]);
        Assert.Equal("gauge", after.Types["dispatcher_waiting"]);
        Assert.Equal(1, Sum(after, "dispatcher_cluster_silos", ("status", "active"))); // the co-hosted silo
        Assert.True(Sum(after, "orleans_catalog_activations") >= 2, "Orleans' activations are not exported"); // model, backend, token grains
        Assert.DoesNotContain("orleans_app_requests_latency_seconds", after.Types.Keys); // by default: it costs 10-15 % of requests/s
        Assert.True(Sum(after, "process_working_set_bytes") > 0);
        Assert.DoesNotContain(DispatcherHost.HighToken, text, StringComparison.Ordinal);
        Assert.DoesNotContain(DispatcherHost.LowToken, text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Metrics_TwoHostsInOneProcess_KeepTheirSeriesApart()
    {
        await using var first = await DispatcherHost.StartAsync();
        await using var second = await DispatcherHost.StartAsync();
        for (var i = 0; i < 2; i++)
        {
            using var response = await first.CreateClient().PostAsync("/v1/chat/completions", DispatcherHost.Json(DispatcherHost.Chat(maxTokens: 2)));
            response.EnsureSuccessStatusCode();
        }

        using (var response = await second.CreateClient().PostAsync("/v1/chat/completions", DispatcherHost.Json(DispatcherHost.Chat(maxTokens: 2))))
        {
            response.EnsureSuccessStatusCode();
        }

        await first.AssertDrainedAsync();
        await second.AssertDrainedAsync();
        var ofFirst = PrometheusTextParser.Parse(await first.CreateClient(token: null).GetStringAsync("/metrics"));
        var ofSecond = PrometheusTextParser.Parse(await second.CreateClient(token: null).GetStringAsync("/metrics"));
        Assert.Equal(2, Sum(ofFirst, "dispatcher_requests_total", ("outcome", "granted")));
        Assert.Equal(1, Sum(ofSecond, "dispatcher_requests_total", ("outcome", "granted")));
        Assert.Equal(1, Sum(ofFirst, "dispatcher_cluster_silos"));
    }

    [Fact]
    public async Task Metrics_GrainCallLatencyAskedFor_IsAHistogramOfEveryGrainCall()
    {
        await using var host = await DispatcherHost.StartAsync(settings: new() { ["Dispatcher:Telemetry:GrainCallLatency"] = "true" });
        using (var response = await host.CreateClient().PostAsync("/v1/chat/completions", DispatcherHost.Json(DispatcherHost.Chat(maxTokens: 2))))
        {
            response.EnsureSuccessStatusCode();
        }

        var metrics = PrometheusTextParser.Parse(await host.CreateClient(token: null).GetStringAsync("/metrics"));
        Assert.Equal("histogram", metrics.Types["orleans_app_requests_latency_seconds"]);
        Assert.True(Sum(metrics, "orleans_app_requests_latency_seconds_count") >= 3, "the token, acquire and release calls are not all counted");
    }
}
