using Dispatcher.Grains.Abstractions.Configuration;

namespace Dispatcher.Grains.Capacity;

/// <summary>
/// Decides whether a replica has room for one more request, and how good a choice it is. Pure.
/// Room: healthy; under the hard cap (if any); and, by metrics: the predicted per-user rate with one more
/// request at or above the floor, vLLM's own waiting count at most <c>MaxWaiting</c>, KV-cache usage under the
/// ceiling. Until a replica's rate is known it takes <c>ColdStartLeases</c>.
/// </summary>
internal sealed class AdmissionPolicy(CapacityOptions capacity, double minTokensPerSecond)
{
    public bool HasRoom(BackendSlot slot)
    {
        var snapshot = slot.Snapshot;
        if (!snapshot.Healthy || slot.Draining || (snapshot.MaxConcurrentLeases is { } cap && slot.LeasesInFlight >= cap))
        {
            return false;
        }

        if (!capacity.UseMetrics)
        {
            return true;
        }

        if (snapshot.Load is not { PerUserRate: not null } load)
        {
            return slot.LeasesInFlight < capacity.ColdStartLeases;
        }

        return load.Waiting <= capacity.MaxWaiting
            && (load.KvCacheUsage ?? 0) < capacity.MaxKvCacheUsage
            && load.PredictPerUserRate(slot.EffectiveRunning + 1) >= minTokensPerSecond;
    }

    /// <summary>Higher is better: the predicted per-user rate with one more request, or the least used share.</summary>
    public double Score(BackendSlot slot)
    {
        if (capacity.UseMetrics && slot.Snapshot.Load?.PredictPerUserRate(slot.EffectiveRunning + 1) is { } rate)
        {
            return rate;
        }

        // No rate known: prefer the replica with the fewest leases relative to what it may take.
        var room = slot.Snapshot.MaxConcurrentLeases ?? capacity.ColdStartLeases;
        return double.MaxValue / 4 * (1 - ((double)slot.LeasesInFlight / room));
    }
}
