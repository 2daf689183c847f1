namespace Dispatcher.Grains.Abstractions.Configuration;

/// <summary>One served model: <c>Dispatcher:Models:N</c>.</summary>
public sealed class ModelOptions
{
    /// <summary>The OpenAI model id clients send in <c>model</c>. Required.</summary>
    public string Name { get; set; } = "";

    /// <summary>
    /// Base addresses of the vLLM replicas serving it, e.g. <c>http://vllm-llama-0:8000</c>: at least one, unless
    /// <see cref="Discovery"/> finds them.
    /// </summary>
    public List<string> Backends { get; set; } = [];

    /// <summary>The Kubernetes Service whose ready endpoints are its replicas, found at run time instead of <see cref="Backends"/>.</summary>
    public DiscoveryOptions? Discovery { get; set; }

    /// <summary>Overrides <see cref="DispatcherOptions.QueueTimeout"/> for this model.</summary>
    public TimeSpan? QueueTimeout { get; set; }

    /// <summary>Overrides <see cref="DispatcherOptions.MaxConcurrentLeasesPerBackend"/> for this model.</summary>
    public int? MaxConcurrentLeasesPerBackend { get; set; }

    /// <summary>Overrides <see cref="CapacityOptions.MinTokensPerSecond"/> for this model.</summary>
    public double? MinTokensPerSecond { get; set; }

    /// <summary>The API key the replicas expect (vLLM <c>--api-key</c>), sent as a bearer token; none by default.</summary>
    public string? ApiKey { get; set; }
}
