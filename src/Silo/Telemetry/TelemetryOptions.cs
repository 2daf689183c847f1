namespace Dispatcher.Silo.Telemetry;

/// <summary>The <c>Dispatcher:Telemetry</c> section: optional OTLP export of metrics and traces.</summary>
public sealed class TelemetryOptions
{
    /// <summary>The configuration section name.</summary>
    public const string SectionName = "Dispatcher:Telemetry";

    /// <summary>
    /// An OTLP/HTTP collector, e.g. <c>http://otel-collector:4318</c>; metrics go to <c>/v1/metrics</c>, traces to
    /// <c>/v1/traces</c>. Unset (default): nothing is exported; <c>/metrics</c> is always served.
    /// </summary>
    public Uri? OtlpEndpoint { get; set; }

    /// <summary>How often metrics are pushed. Default 15 s.</summary>
    public TimeSpan ExportInterval { get; set; } = TimeSpan.FromSeconds(15);
}
