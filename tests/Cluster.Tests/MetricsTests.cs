using Dispatcher.Grains.Metrics;

namespace Dispatcher.Cluster.Tests;

/// <summary><c>/metrics</c> of real Frontend and silo processes after traffic on a two-silo cluster.</summary>
public sealed class MetricsTests
{
    private static double Sum(ParsedMetrics metrics, string name, params (string Label, string Value)[] match) =>
        metrics.Samples.Where(s => s.Name == name && match.All(m => s.Label(m.Label) == m.Value)).Sum(s => s.Value);

    [Fact]
    public async Task Metrics_TwoSilos_CountTheTrafficInTheFrontendAndTheClusterInEverySilo()
    {
        await using var fleet = await Fleet.StartAsync(silos: 2, frontends: 1);
        const int Requests = 12;
        var answers = await Task.WhenAll(Enumerable.Range(0, Requests).Select(_ => fleet.StreamAsync(fleet.Frontends[0], 4, CancellationToken.None)));
        Assert.All(answers, a => Assert.Equal("ok", a));
        await Fleet.AssertNothingHeldAsync(fleet.Silos[0], TimeSpan.FromSeconds(20));

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var frontendText = await http.GetStringAsync($"{fleet.Frontends[0].Address}/metrics");
        var frontend = PrometheusTextParser.Parse(frontendText);
        Assert.Empty(frontend.Errors);
        Assert.Equal(Requests, Sum(frontend, "dispatcher_requests_total", ("outcome", "granted"), ("status_class", "2xx")));
        Assert.Equal(Requests, Sum(frontend, "dispatcher_queue_wait_seconds_count"));
        Assert.Equal("counter", frontend.Types["dispatcher_requests_total"]);
        Assert.True(Sum(frontend, "orleans_client_connected_gateways") >= 1, "the Frontend's gateway connections are not exported");
        Assert.DoesNotContain(Fleet.Token, frontendText, StringComparison.Ordinal);

        var silos = new List<ParsedMetrics>();
        foreach (var silo in fleet.Silos)
        {
            var parsed = PrometheusTextParser.Parse(await http.GetStringAsync($"{silo.Management}/metrics"));
            Assert.Empty(parsed.Errors);
            Assert.Equal(2, Sum(parsed, "dispatcher_cluster_silos", ("status", "active")));
            Assert.True(Sum(parsed, "orleans_catalog_activations") > 0, "activations are not exported");
            silos.Add(parsed);
        }

        // The model's grain lives on one silo: its gauges are there, at zero now; the replicas' state is exported too.
        Assert.Equal(0, silos.Sum(s => Sum(s, "dispatcher_in_flight", ("model", Fleet.Model))));
        Assert.Contains(silos, s => s.Samples.Any(x => x.Name == "dispatcher_in_flight"));
        Assert.Equal(2, silos.Sum(s => Sum(s, "dispatcher_replica_healthy")));
        Assert.True(silos.Sum(s => Sum(s, "orleans_gateway_connected_clients")) >= 1, "gateway clients are not exported"); // the Frontend, at one gateway or more
    }
}
