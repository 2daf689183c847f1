namespace Dispatcher.Grains.Scheduling;

/// <summary>
/// A model's waiting requests in the order they are served: higher priority first, FIFO within a priority.
/// Removal (cancellation, timeout) is lazy: the waiter is marked and skipped when it reaches the head, so
/// every operation is O(log n); the heap is compacted when removed entries outnumber live ones.
/// Not thread-safe; owned by one model grain.
/// </summary>
internal sealed class WaitList
{
    private const int CompactionFloor = 64;
    private readonly PriorityQueue<Waiter, Waiter> _queue = new(ServiceOrder.Instance);
    private int _removedInQueue;

    /// <summary>Waiters still waiting (removed ones excluded).</summary>
    public int Count { get; private set; }

    public void Add(Waiter waiter)
    {
        _queue.Enqueue(waiter, waiter);
        Count++;
    }

    /// <summary>Takes the next waiter to serve and marks it as no longer waiting.</summary>
    public bool TryTakeNext(out Waiter waiter)
    {
        while (_queue.TryDequeue(out waiter!, out _))
        {
            if (waiter.IsWaiting)
            {
                waiter.IsWaiting = false;
                Count--;
                return true;
            }

            _removedInQueue--;
        }

        return false;
    }

    /// <summary>Removes a waiter that is still waiting; does nothing otherwise.</summary>
    public void Remove(Waiter waiter)
    {
        if (!waiter.IsWaiting)
        {
            return;
        }

        waiter.IsWaiting = false;
        Count--;
        _removedInQueue++;
        if (_removedInQueue > CompactionFloor && _removedInQueue > Count)
        {
            Compact();
        }
    }

    private void Compact()
    {
        var live = new List<(Waiter, Waiter)>(Count);
        foreach (var (waiter, _) in _queue.UnorderedItems)
        {
            if (waiter.IsWaiting)
            {
                live.Add((waiter, waiter));
            }
        }

        _queue.Clear();
        _queue.EnqueueRange(live);
        _removedInQueue = 0;
    }

    private sealed class ServiceOrder : IComparer<Waiter>
    {
        public static ServiceOrder Instance { get; } = new();

        public int Compare(Waiter? x, Waiter? y)
        {
            var byPriority = y!.Request.Priority.CompareTo(x!.Request.Priority);
            return byPriority != 0 ? byPriority : x.Sequence.CompareTo(y.Sequence);
        }
    }
}
