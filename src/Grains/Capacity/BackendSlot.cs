using Dispatcher.Grains.Abstractions.Backends;

namespace Dispatcher.Grains.Capacity;

/// <summary>A replica as one model grain tracks it: the replica's last snapshot plus the leases granted on it.</summary>
internal sealed class BackendSlot(BackendSnapshot snapshot)
{
    public BackendSnapshot Snapshot { get; set; } = snapshot;

    public int LeasesInFlight { get; set; }

    public bool HasRoom => Snapshot.Healthy && LeasesInFlight < Snapshot.MaxConcurrentLeases;
}
