namespace Dispatcher.Grains.Scheduling;

/// <summary>
/// A model's waiting requests, in the order its <see cref="ServiceOrder"/> gives them (smallest key first,
/// ties in arrival order). Removal (cancellation, timeout) is lazy: the waiter is marked and skipped when it
/// reaches the head, so every operation is O(log n); the heap is compacted when removed entries outnumber live
/// ones. Allocation-free in steady state. Not thread-safe; owned by one model grain.
/// </summary>
internal sealed class WaitList(ServiceOrder order)
{
    private const int CompactionFloor = 64;
    private readonly PriorityQueue<Waiter, (long Key, long Sequence)> _queue = new();
    private int _removedInQueue;

    /// <summary>Waiters still waiting (removed ones excluded).</summary>
    public int Count { get; private set; }

    public ServiceOrder Order => order;

    public void Add(Waiter waiter)
    {
        order.OnArrival(waiter);
        _queue.Enqueue(waiter, (waiter.Key, waiter.Sequence));
        Count++;
    }

    /// <summary>The waiter to serve next, left in the list until <see cref="Grant"/> or <see cref="Remove"/>.</summary>
    public bool TryPeekNext(out Waiter waiter)
    {
        while (_queue.TryPeek(out waiter!, out _))
        {
            if (waiter.IsWaiting)
            {
                return true;
            }

            _queue.Dequeue();
            _removedInQueue--;
        }

        return false;
    }

    /// <summary>Takes the head waiter (from <see cref="TryPeekNext"/>) out of the list as granted.</summary>
    public void Grant(Waiter waiter)
    {
        var head = _queue.Dequeue();
        System.Diagnostics.Debug.Assert(ReferenceEquals(head, waiter), "Grant must take the waiter just peeked");
        waiter.IsWaiting = false;
        Count--;
        order.OnGranted(waiter);
    }

    /// <summary>Removes a waiter that is still waiting, without a lease; does nothing otherwise.</summary>
    public void Remove(Waiter waiter)
    {
        if (!waiter.IsWaiting)
        {
            return;
        }

        waiter.IsWaiting = false;
        Count--;
        _removedInQueue++;
        order.OnAbandoned(waiter);
        if (_removedInQueue > CompactionFloor && _removedInQueue > Count)
        {
            Compact();
        }
    }

    private void Compact()
    {
        var live = new List<(Waiter, (long, long))>(Count);
        foreach (var (waiter, priority) in _queue.UnorderedItems)
        {
            if (waiter.IsWaiting)
            {
                live.Add((waiter, priority));
            }
        }

        _queue.Clear();
        _queue.EnqueueRange(live);
        _removedInQueue = 0;
    }
}
