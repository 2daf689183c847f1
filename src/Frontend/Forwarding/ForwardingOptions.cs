namespace Dispatcher.Frontend.Forwarding;

/// <summary>The <c>Dispatcher:Forwarding</c> section: how requests travel to the replicas.</summary>
public sealed class ForwardingOptions
{
    /// <summary>The configuration section name.</summary>
    public const string SectionName = "Dispatcher:Forwarding";

    /// <summary>The longest wait for a TCP connection to a replica. Default 5 s.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// The longest silence from a replica (waiting for headers, or between two reads of the body) before the
    /// request is abandoned. Non-streaming answers send nothing until generation ends. Default 10 minutes.
    /// </summary>
    public TimeSpan ActivityTimeout { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// A streamed (SSE) answer silent for this long is ended: the client gets an error event and <c>[DONE]</c>,
    /// the upstream request is aborted and the lease released. Default 60 s.
    /// </summary>
    public TimeSpan StreamStallTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>The longest any answer may run before it is ended the same way (a stream that never ends). Default 1 hour.</summary>
    public TimeSpan MaxResponseDuration { get; set; } = TimeSpan.FromHours(1);

    /// <summary>The largest request body accepted, in bytes (larger: 413). Default 32 MiB.</summary>
    public long MaxRequestBodySize { get; set; } = 32 * 1024 * 1024;
}
