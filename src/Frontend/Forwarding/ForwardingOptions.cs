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

    /// <summary>The largest request body accepted, in bytes (larger: 413). Default 32 MiB.</summary>
    public long MaxRequestBodySize { get; set; } = 32 * 1024 * 1024;
}
