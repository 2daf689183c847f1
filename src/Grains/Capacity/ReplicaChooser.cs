namespace Dispatcher.Grains.Capacity;

/// <summary>Picks the replica for the next lease. Pure: the same inputs give the same choice.</summary>
internal static class ReplicaChooser
{
    /// <summary>
    /// Among the replicas with room, the one with the best score; ties go to the first at or after
    /// <paramref name="start"/> (the caller rotates it, so ties spread evenly). Returns -1 when none has room.
    /// </summary>
    public static int Choose(IReadOnlyList<BackendSlot> slots, int start, AdmissionPolicy policy)
    {
        var best = -1;
        var bestScore = double.NegativeInfinity;
        for (var i = 0; i < slots.Count; i++)
        {
            var index = (start + i) % slots.Count;
            var slot = slots[index];
            if (!policy.HasRoom(slot))
            {
                continue;
            }

            var score = policy.Score(slot);
            if (best < 0 || score > bestScore * (1 + 1e-9))
            {
                best = index;
                bestScore = score;
            }
        }

        return best;
    }
}
