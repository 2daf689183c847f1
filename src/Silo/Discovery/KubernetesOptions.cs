namespace Dispatcher.Silo.Discovery;

/// <summary><c>Dispatcher:Kubernetes</c>: how the silos reach the Kubernetes API to find replicas (<c>Discovery</c>).</summary>
public sealed class KubernetesOptions
{
    public const string SectionName = "Dispatcher:Kubernetes";

    /// <summary>
    /// The API server's address, e.g. <c>http://127.0.0.1:8001</c> behind <c>kubectl proxy</c>. Empty (the default): the
    /// pod's service account inside a cluster, or the current kubeconfig context outside one.
    /// </summary>
    public string? ApiServer { get; set; }

    /// <summary>The namespace of a Service named without one; empty: the pod's own (its service account's).</summary>
    public string? Namespace { get; set; }
}
