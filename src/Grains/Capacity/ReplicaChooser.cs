namespace Dispatcher.Grains.Capacity;

/// <summary>Picks the replica for the next lease. Pure: the same inputs give the same choice.</summary>
internal static class ReplicaChooser
{
    /// <summary>
    /// Among the replicas with room, the one with the smallest share of its capacity in use; ties go to the
    /// first at or after <paramref name="start"/> (the caller rotates it, so ties spread evenly).
    /// Returns -1 when no replica has room.
    /// </summary>
    public static int Choose(IReadOnlyList<BackendSlot> slots, int start)
    {
        var best = -1;
        for (var i = 0; i < slots.Count; i++)
        {
            var index = (start + i) % slots.Count;
            var slot = slots[index];
            if (!slot.HasRoom)
            {
                continue;
            }

            // a/b < c/d  <=>  a*d < c*b for positive capacities; long avoids overflow.
            if (best < 0 || (long)slot.LeasesInFlight * slots[best].Snapshot.MaxConcurrentLeases
                < (long)slots[best].LeasesInFlight * slot.Snapshot.MaxConcurrentLeases)
            {
                best = index;
            }
        }

        return best;
    }
}
