using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Dispatcher.Silo.Telemetry;

/// <summary>
/// OTLP/HTTP push of metrics and traces with OpenTelemetry's hosting package, when
/// <see cref="TelemetryOptions.OtlpEndpoint"/> is set (nothing otherwise: no listener, no cost). Metrics: ours, the
/// Orleans instruments <c>/metrics</c> also exports, ASP.NET Core, outgoing HTTP and the runtime's. Traces: ASP.NET
/// Core, outgoing HTTP (the vLLM call), YARP, Npgsql, and Orleans' grain calls, whose activity propagation (turned on
/// with it in <see cref="SiloHostingExtensions"/>) carries one trace from the Frontend through the model grain in
/// whichever silo holds it.
/// </summary>
public static class OpenTelemetryExport
{
    /// <summary>Orleans' activity source for calls to our grains.</summary>
    public const string OrleansGrainCalls = "Microsoft.Orleans.Application";

    private const string HostingDiagnostics = "Microsoft.AspNetCore.Hosting.Diagnostics";

    /// <summary>The <c>Dispatcher:Telemetry</c> section as configured now.</summary>
    public static TelemetryOptions Settings(IConfiguration configuration) =>
        configuration.GetSection(TelemetryOptions.SectionName).Get<TelemetryOptions>() ?? new TelemetryOptions();

    /// <summary>Adds the export to a process named <paramref name="serviceName"/> in traces (<c>service.name</c>).</summary>
    public static IHostApplicationBuilder AddDispatcherTelemetry(this IHostApplicationBuilder builder, string serviceName)
    {
        var settings = Settings(builder.Configuration);
        if (settings.OtlpEndpoint is null)
        {
            // Nothing is traced: ASP.NET Core would still start an Activity per request (because its hosting logger is enabled
            // at Critical), which HttpClient then carries on to vLLM with a child Activity and a traceparent header, for no
            // one (bench/RESULTS.md, 2026-12-02). Unless the operator configured that logger (its request lines), it is off.
            if (builder.Configuration[$"Logging:LogLevel:{HostingDiagnostics}"] is null)
            {
                builder.Logging.AddFilter(HostingDiagnostics, LogLevel.None);
            }

            return builder;
        }

        var endpoint = settings.OtlpEndpoint.AbsoluteUri.TrimEnd('/');
        var traceDelay = TimeSpan.FromTicks(Math.Min(settings.ExportInterval.Ticks, TimeSpan.FromSeconds(5).Ticks));
        builder.Services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService(serviceName))
            .WithMetrics(metrics => metrics
                .AddMeter("Dispatcher.Frontend", "Dispatcher.Grains", ClusterMetrics.MeterName, "Microsoft.Orleans")
                .AddView(instrument => instrument.Meter.Name == "Microsoft.Orleans" && !PrometheusMetrics.IsExported(instrument, settings.GrainCallLatency)
                    ? MetricStreamConfiguration.Drop // all of Orleans' instruments cost 35-45 % of client-to-silo throughput
                    : null)
                .AddAspNetCoreInstrumentation()
                .AddHttpClientInstrumentation()
                .AddRuntimeInstrumentation()
                .AddOtlpExporter((exporter, reader) =>
                {
                    exporter.Protocol = OtlpExportProtocol.HttpProtobuf;
                    exporter.Endpoint = new Uri($"{endpoint}/v1/metrics");
                    reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = (int)settings.ExportInterval.TotalMilliseconds;
                }))
            .WithTracing(tracing => tracing
                .AddSource(OrleansGrainCalls, "Yarp.ReverseProxy")
                .AddAspNetCoreInstrumentation(o => o.Filter = context => !IsProbe(context.Request.Path))
                .AddHttpClientInstrumentation()
                .AddNpgsql()
                .AddOtlpExporter(exporter =>
                {
                    exporter.Protocol = OtlpExportProtocol.HttpProtobuf;
                    exporter.Endpoint = new Uri($"{endpoint}/v1/traces");
                    exporter.BatchExportProcessorOptions.ScheduledDelayMilliseconds = (int)traceDelay.TotalMilliseconds;
                }));
        return builder;
    }

    /// <summary>Scrapes and probes are not traced: they would drown the requests.</summary>
    private static bool IsProbe(PathString path) =>
        path.StartsWithSegments("/metrics") || path.StartsWithSegments("/health") || path.StartsWithSegments("/dashboard");
}
