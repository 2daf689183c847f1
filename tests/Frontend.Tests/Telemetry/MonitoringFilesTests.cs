using System.Text.Json;
using System.Text.RegularExpressions;
using Dispatcher.Grains.Metrics;
using Dispatcher.Testing;

namespace Dispatcher.Frontend.Tests.Telemetry;

/// <summary>The Grafana dashboard and the alert rules query only metrics the exporter produces.</summary>
public sealed partial class MonitoringFilesTests
{
    private static string Repository([System.Runtime.CompilerServices.CallerFilePath] string here = "") =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(here)!, "..", "..", ".."));

    [GeneratedRegex(@"\b(?:dispatcher|orleans)_[a-z0-9_]+")]
    private static partial Regex MetricName();

    private static async Task<HashSet<string>> ExportedNamesAsync()
    {
        await using var host = await DispatcherHost.StartAsync(settings: new() { ["Dispatcher:Telemetry:GrainCallLatency"] = "true" }); // its panel needs it
        // A replica's rate needs tokens generated between two of its scrapes: one request made before the first scrape
        // (a slow start under load) would leave it unknown, so a request goes with every look.
        await Eventually.TrueAsync(
            async () =>
            {
                using (var response = await host.CreateClient().PostAsync("/v1/chat/completions", DispatcherHost.Json(DispatcherHost.Chat(maxTokens: 2))))
                {
                    response.EnsureSuccessStatusCode();
                }

                return (await host.CreateClient(null).GetStringAsync("/metrics")).Contains("dispatcher_replica_per_user_rate", StringComparison.Ordinal);
            },
            () => "no replica metrics yet");
        using (await host.CreateClient("sk-bad").GetAsync("/v1/models"))
        {
        }

        var parsed = PrometheusTextParser.Parse(await host.CreateClient(null).GetStringAsync("/metrics"));
        return [.. parsed.Samples.Select(s => s.Name)];
    }

    [Fact]
    public async Task GrafanaDashboardAndAlerts_QueryOnlyExportedMetrics()
    {
        var dashboard = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(Repository(), "deploy", "helm", "dispatcher", "files", "grafana-dashboard.json")));
        var expressions = dashboard.RootElement.GetProperty("panels").EnumerateArray()
            .SelectMany(p => p.GetProperty("targets").EnumerateArray().Select(t => t.GetProperty("expr").GetString()!))
            .ToList();
        var alerts = (await File.ReadAllLinesAsync(Path.Combine(Repository(), "deploy", "helm", "dispatcher", "files", "alerts.yaml")))
            .Where(l => l.TrimStart().StartsWith("expr:", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(expressions);
        Assert.Equal(5, alerts.Count);

        var exported = await ExportedNamesAsync();
        var queried = expressions.Concat(alerts).SelectMany(e => MetricName().Matches(e).Select(m => m.Value)).Distinct().ToList();

        Assert.All(queried, name => Assert.True(exported.Contains(name), $"{name} is queried but not exported; exported: {string.Join(", ", exported.Order())}"));
        Assert.Contains("dispatcher_queue_wait_seconds_bucket", queried);
    }
}
