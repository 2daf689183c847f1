namespace Dispatcher.Silo.Activation;

/// <summary>
/// Decides whether this silo may activate a grain. In a cluster a model's grain may live on one silo only, the one
/// holding the model (<see cref="Cluster.ClusterMembership"/>); alone, a silo activates everything.
/// </summary>
internal interface IActivationGate
{
    bool MayActivate(GrainId id);
}

/// <summary>Lets every grain activate: the embedded default and a silo without a cluster.</summary>
internal sealed class OpenActivationGate : IActivationGate
{
    public bool MayActivate(GrainId id) => true;
}

/// <summary>Thrown by a call to a grain that another silo hosts; the caller sends the request to that silo instead.</summary>
internal sealed class GrainNotLocalException(GrainId id)
    : InvalidOperationException($"The {id.Interface.Name} grain '{id.Key}' is hosted by another silo.");
