using System.Collections.Concurrent;
using Dispatcher.Grains.Abstractions.Backends;

namespace Dispatcher.Grains.Backends;

/// <summary>
/// The replicas found at run time for the models that discover theirs (<c>Dispatcher:Models:N:Discovery</c>), as this
/// process last saw them. Every silo keeps its own, written by its watcher; the model grain reads the one of the silo it
/// runs on, at activation and every second, so a new activation after a failover starts with the current replicas.
/// </summary>
public sealed class ReplicaDirectory
{
    private readonly ConcurrentDictionary<string, IReadOnlyList<Uri>> _replicas = new(StringComparer.Ordinal);

    /// <summary>The ready replicas of <paramref name="model"/>; null until they were first listed.</summary>
    public IReadOnlyList<Uri>? Find(string model) => _replicas.TryGetValue(model, out var replicas) ? replicas : null;

    /// <summary>Replaces <paramref name="model"/>'s replicas (addresses that are not http(s) base addresses are skipped).</summary>
    /// <returns>True when the set changed.</returns>
    public bool Set(string model, IEnumerable<string> addresses)
    {
        var replicas = addresses.Select(BackendAddress.TryNormalize).OfType<Uri>().Distinct().OrderBy(u => u.AbsoluteUri, StringComparer.Ordinal).ToArray();
        var previous = Find(model);
        _replicas[model] = replicas;
        return previous is null || !previous.SequenceEqual(replicas);
    }
}
