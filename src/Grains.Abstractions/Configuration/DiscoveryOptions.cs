namespace Dispatcher.Grains.Abstractions.Configuration;

/// <summary>
/// <c>Dispatcher:Models:N:Discovery</c>: a model's replicas are the ready endpoints of a Kubernetes Service, watched
/// through its EndpointSlices. A pod that becomes ready joins; one that stops being ready or goes away is drained (no new
/// leases, its running requests finish) and then dropped.
/// </summary>
public sealed class DiscoveryOptions
{
    /// <summary>The Service's name (its EndpointSlices carry the label <c>kubernetes.io/service-name</c>). Required.</summary>
    public string Service { get; set; } = "";

    /// <summary>The Service's namespace; the dispatcher's own when empty.</summary>
    public string? Namespace { get; set; }

    /// <summary>The name of the Service port to send requests to; the first port when empty.</summary>
    public string? Port { get; set; }

    /// <summary><c>http</c> (vLLM's default) or <c>https</c>.</summary>
    public string Scheme { get; set; } = "http";
}
