using Dispatcher.Grains.Abstractions.Backends;

namespace Dispatcher.Grains.Capacity;

/// <summary>A replica as one model grain tracks it: its last snapshot plus the leases granted on it.</summary>
internal sealed class BackendSlot(BackendSnapshot snapshot)
{
    private BackendSnapshot _snapshot = snapshot;

    public BackendSnapshot Snapshot
    {
        get => _snapshot;
        set
        {
            _snapshot = value;
            LeasesAtSnapshot = LeasesInFlight;
        }
    }

    public int LeasesInFlight { get; set; }

    /// <summary>No longer among the model's discovered replicas: no new leases; dropped once its last one ends.</summary>
    public bool Draining { get; set; }

    /// <summary>Leases held when the snapshot arrived: those granted since count on top of its load at once.</summary>
    public int LeasesAtSnapshot { get; private set; }

    /// <summary>
    /// The running count to plan with: the replica's as scraped plus this model's grants since, and never less
    /// than this model's own leases on it (a scrape taken before the latest grants may arrive after them).
    /// </summary>
    public int EffectiveRunning => Math.Max((Snapshot.Load?.Running ?? 0) + Math.Max(0, LeasesInFlight - LeasesAtSnapshot), LeasesInFlight);
}
