using System.Collections.Concurrent;

namespace Dispatcher.Silo.Client;

/// <summary>The leases this Frontend holds from remote silos, by lease id. Thread-safe.</summary>
internal sealed class RemoteLeases : IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, RemoteLease> _leases = new(StringComparer.Ordinal);

    /// <summary>Leases held now.</summary>
    public int Count => _leases.Count;

    public void Add(RemoteLease lease)
    {
        _leases[lease.LeaseId] = lease;
        lease.Start();
    }

    /// <summary>Takes the lease out, to release it; null when unknown or already released.</summary>
    public RemoteLease? Take(string leaseId) => _leases.TryRemove(leaseId, out var lease) ? lease : null;

    /// <summary>At shutdown: closes every call, so each silo releases what this Frontend held.</summary>
    public async ValueTask DisposeAsync()
    {
        foreach (var leaseId in _leases.Keys.ToList())
        {
            if (Take(leaseId) is { } lease)
            {
                await lease.AbandonAsync().ConfigureAwait(false);
            }
        }
    }
}
