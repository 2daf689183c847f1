using System.Net;
using Dispatcher.Testing;

namespace Dispatcher.Frontend.Tests.Telemetry;

public sealed class OtlpExportTests
{
    [Fact]
    public async Task OtlpEndpointConfigured_PushesMetricsAndOneTraceFromTheFrontendThroughTheGrainToTheReplica()
    {
        await using var collector = await OtlpCollector.StartAsync();
        var host = await DispatcherHost.StartAsync(settings: new()
        {
            ["Dispatcher:Telemetry:OtlpEndpoint"] = collector.Address,
            ["Dispatcher:Telemetry:ExportInterval"] = "00:00:00.500",
        });
        await using (host)
        {
            using var response = await host.CreateClient().PostAsync("/v1/chat/completions", DispatcherHost.Json(DispatcherHost.Chat(maxTokens: 2)));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        // Stopping the host flushed what was pending.
        Assert.True(collector.Pushes.ContainsKey("metrics"), "no metrics pushed");
        var spans = collector.Spans.ToList();
        var acquire = spans.FirstOrDefault(s => s.Kind == 3 && s.Name.Contains("ModelGrain/Acquire", StringComparison.Ordinal)); // the lease call, as made
        Assert.True(acquire is not null, $"no grain call traced: {string.Join(" | ", spans.Select(s => $"{s.Kind} {s.Name}"))}");
        var trace = spans.Where(s => s.TraceId == acquire.TraceId).ToList();
        // (The test's own HttpClient is in this process too, so the trace starts one step earlier, at its call.)
        var served = Assert.Single(trace, s => s.Kind == 2 && s.Name == "POST /v1/{**path}"); // the request as the Frontend served it
        Assert.Equal(served.SpanId, acquire.ParentSpanId); // its lease call
        Assert.Contains(trace, s => s.Kind == 3 && s.Name == "POST" && s.ParentSpanId == served.SpanId); // its call to vLLM
        Assert.All(trace, s => Assert.Equal("dispatcher-frontend", s.Service));
    }
}
