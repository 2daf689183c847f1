using System.Collections.Concurrent;
using Dispatcher.Grains.Abstractions.Models;
using Dispatcher.Silo.Activation;

namespace Dispatcher.Silo.Cluster;

/// <summary>
/// The models this silo hosts now, each with the directory epoch it took it at. Written by
/// <see cref="ClusterMembership"/> only; read on every lease call and activation. A model's grain may activate here
/// only while the model is in this set, which is what makes the activation single across the cluster. Thread-safe.
/// </summary>
internal sealed class ModelOwnership : IActivationGate
{
    private readonly ConcurrentDictionary<string, long> _owned = new(StringComparer.Ordinal);

    public bool Owns(string model) => _owned.ContainsKey(model);

    public IReadOnlyList<string> Models => [.. _owned.Keys];

    public bool MayActivate(GrainId id) => id.Interface != typeof(IModelGrain) || Owns(id.Key);

    internal void Add(string model, long epoch) => _owned[model] = epoch;

    internal bool Remove(string model) => _owned.TryRemove(model, out _);
}
