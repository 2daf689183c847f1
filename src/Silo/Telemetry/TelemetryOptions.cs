namespace Dispatcher.Silo.Telemetry;

/// <summary>The <c>Dispatcher:Telemetry</c> section: optional OTLP export of metrics and traces, and optional metrics.</summary>
public sealed class TelemetryOptions
{
    /// <summary>The configuration section name.</summary>
    public const string SectionName = "Dispatcher:Telemetry";

    /// <summary>
    /// An OTLP/HTTP collector, e.g. <c>http://otel-collector:4318</c>; metrics go to <c>/v1/metrics</c>, traces to
    /// <c>/v1/traces</c>. Unset (default): nothing is exported; <c>/metrics</c> is always served.
    /// </summary>
    public Uri? OtlpEndpoint { get; set; }

    /// <summary>
    /// Export Orleans' grain call latency histogram (<c>orleans_app_requests_latency_seconds</c>) on <c>/metrics</c> and by
    /// OTLP. Default false: it records every grain call, several per request, which cost 10-15 % of requests/s at 16
    /// and 64 clients on our 2-core machine.
    /// </summary>
    public bool GrainCallLatency { get; set; }

    /// <summary>How often metrics are pushed. Default 15 s.</summary>
    public TimeSpan ExportInterval { get; set; } = TimeSpan.FromSeconds(15);
}
