using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace Dispatcher.Frontend.Telemetry;

/// <summary>
/// Pushes the dispatcher's metrics and traces (ASP.NET Core, YARP and outgoing HTTP activities) to an OTLP/HTTP
/// collector when <see cref="TelemetryOptions.OtlpEndpoint"/> is set. Built by hand: the OpenTelemetry hosting
/// package is not on our mirror. Flushes what is pending when the host stops.
/// </summary>
internal sealed class OtlpExport : IHostedService, IDisposable
{
    private readonly MeterProvider _meters;
    private readonly TracerProvider _traces;

    public OtlpExport(TelemetryOptions options)
    {
        var endpoint = options.OtlpEndpoint!.AbsoluteUri.TrimEnd('/');
        _meters = Sdk.CreateMeterProviderBuilder()
            .AddMeter(FrontendMetrics.MeterName, Grains.Telemetry.GrainsMetrics.MeterName)
            .AddOtlpExporter((exporter, reader) =>
            {
                exporter.Protocol = OtlpExportProtocol.HttpProtobuf;
                exporter.Endpoint = new Uri($"{endpoint}/v1/metrics");
                reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = (int)options.ExportInterval.TotalMilliseconds;
            })
            .Build();
        _traces = Sdk.CreateTracerProviderBuilder()
            .AddSource("Microsoft.AspNetCore", "Yarp.ReverseProxy", "System.Net.Http")
            .AddOtlpExporter(exporter =>
            {
                exporter.Protocol = OtlpExportProtocol.HttpProtobuf;
                exporter.Endpoint = new Uri($"{endpoint}/v1/traces");
            })
            .Build();
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken)
    {
        _meters.ForceFlush(5000);
        _traces.ForceFlush(5000);
        return Task.CompletedTask;
    }

    public void Dispose()
    {
        _meters.Dispose();
        _traces.Dispose();
    }
}
