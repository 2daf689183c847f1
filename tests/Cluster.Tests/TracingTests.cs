using Dispatcher.Testing;

namespace Dispatcher.Cluster.Tests;

/// <summary>OTLP traces of real Frontend and silo processes: one request is one trace across both.</summary>
public sealed class TracingTests
{
    [Fact]
    public async Task OneRequest_OneTraceFromTheFrontendThroughTheModelGrainOnItsSiloToTheReplica()
    {
        await using var collector = await OtlpCollector.StartAsync();
        await using var fleet = await Fleet.StartAsync(silos: 1, frontends: 1,
            everyProcess: [$"--Dispatcher:Telemetry:OtlpEndpoint={collector.Address}", "--Dispatcher:Telemetry:ExportInterval=00:00:00.500"],
            frontendSettings: []);

        Assert.Equal("ok", await fleet.StreamAsync(fleet.Frontends[0], 4, CancellationToken.None));

        List<OtlpCollector.Span> trace = [];
        await Eventually.TrueAsync(() =>
        {
            var request = collector.Spans.FirstOrDefault(s => s.Service == "dispatcher-frontend" && s.Kind == 2 && s.Name.StartsWith("POST", StringComparison.Ordinal));
            trace = request is null ? [] : [.. collector.Spans.Where(s => s.TraceId == request.TraceId)];
            return trace.Any(s => s.Service == "dispatcher-silo" && s.Name.Contains("ModelGrain/Acquire", StringComparison.Ordinal))
                && trace.Any(s => s.Service == "dispatcher-frontend" && s.Kind == 3 && s.Name.StartsWith("POST", StringComparison.Ordinal));
        }, () => $"no trace across Frontend, silo and replica; spans: {string.Join(" | ", collector.Spans.Select(s => $"{s.Service} {s.Kind} {s.Name} {s.TraceId[..8]}"))}");

        // The silo's server span of the grain call is a child of the Frontend's client span of it.
        var server = trace.First(s => s.Service == "dispatcher-silo" && s.Kind == 2 && s.Name.Contains("ModelGrain/Acquire", StringComparison.Ordinal));
        Assert.Contains(trace, s => s.Service == "dispatcher-frontend" && s.SpanId == server.ParentSpanId);
    }
}
