using System.Collections.Concurrent;
using Dispatcher.Grains.Abstractions.Leases;

namespace Dispatcher.Silo.Client;

/// <summary>The leases this Frontend holds from remote silos, by lease id. Thread-safe.</summary>
internal sealed class RemoteLeases : IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, RemoteLease> _leases = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<Task, byte> _releasing = new();

    /// <summary>Leases held now.</summary>
    public int Count => _leases.Count;

    public void Add(RemoteLease lease)
    {
        _leases[lease.LeaseId] = lease;
        lease.Start();
    }

    /// <summary>Takes the lease out, to release it; null when unknown or already released.</summary>
    public RemoteLease? Take(string leaseId) => _leases.TryRemove(leaseId, out var lease) ? lease : null;

    /// <summary>
    /// Ends a lease without making its request wait for the silo's answer: the release (with usage) is posted in the
    /// background, and shutdown waits for the releases still on their way.
    /// </summary>
    public void Release(LeaseRelease release)
    {
        if (Take(release.LeaseId) is not { } lease)
        {
            return;
        }

        var releasing = lease.ReleaseAsync(release);
        if (!releasing.IsCompleted)
        {
            _releasing.TryAdd(releasing, 0);
            _ = releasing.ContinueWith(done => _releasing.TryRemove(done, out _), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
    }

    /// <summary>At shutdown: finishes the releases on their way, then closes every call, so each silo releases what this Frontend held.</summary>
    public async ValueTask DisposeAsync()
    {
        await Task.WhenAll(_releasing.Keys).ConfigureAwait(false);
        foreach (var leaseId in _leases.Keys.ToList())
        {
            if (Take(leaseId) is { } lease)
            {
                await lease.AbandonAsync().ConfigureAwait(false);
            }
        }
    }
}
