using System.Diagnostics;
using Dispatcher.Grains.Abstractions.Models;

namespace Dispatcher.Grains.Scheduling;

/// <summary>
/// A model's waiting requests: one FIFO <see cref="Flow"/> per token, and a binary heap holding each waiting
/// token once, keyed by its front request's key from the <see cref="ServiceOrder"/> (smallest first, then the
/// order's tie-break, then arrival order). Every decision is O(log tokens) and allocation-free in steady state. Removal (timeout,
/// cancellation) is lazy: the waiter is marked and dropped when it reaches its token's front. Not
/// thread-safe; owned by one model grain.
/// </summary>
internal sealed class WaitList(ServiceOrder order)
{
    private const int CompactionFloor = 64;
    private const int SweepEvery = 4096;
    private readonly Dictionary<string, Flow> _flows = new(StringComparer.Ordinal);
    private readonly PriorityQueue<(Flow Flow, long Version), (long Key, long Tie, long Sequence)> _heap = new();
    private int _grantsSinceSweep;

    /// <summary>Waiters still waiting (removed ones excluded).</summary>
    public int Count { get; private set; }

    /// <summary>Tokens with a flow: waiting, in service, owed their place by the order, or idle since the last sweep.</summary>
    public int FlowCount => _flows.Count;

    public ServiceOrder Order => order;

    public void Add(Waiter waiter)
    {
        if (!_flows.TryGetValue(waiter.Request.TokenId, out var flow))
        {
            flow = new Flow(waiter.Request.TokenId);
            _flows.Add(flow.TokenId, flow);
        }

        flow.Queue.Enqueue(waiter);
        flow.Waiting++;
        Count++;
        if (!flow.Scheduled)
        {
            Schedule(flow);
        }
    }

    /// <summary>The waiter to serve next, left in the list until <see cref="Grant"/> or <see cref="Remove"/>.</summary>
    public bool TryPeekNext(out Waiter waiter)
    {
        while (_heap.TryPeek(out var entry, out _))
        {
            var flow = entry.Flow;
            if (entry.Version != flow.Version)
            {
                _heap.Dequeue();
                continue;
            }

            var front = flow.Queue.Peek();
            if (front.IsWaiting)
            {
                waiter = front;
                return true;
            }

            // The front request left (timeout, cancellation): the next one takes its token's turn.
            _heap.Dequeue();
            flow.Scheduled = false;
            DropRemovedFront(flow);
            Reschedule(flow);
        }

        waiter = null!;
        return false;
    }

    /// <summary>Takes the waiter from <see cref="TryPeekNext"/> out of the list as granted.</summary>
    public void Grant(Waiter waiter)
    {
        var flow = _flows[waiter.Request.TokenId];
        Debug.Assert(flow.Scheduled && ReferenceEquals(flow.Queue.Peek(), waiter), "Grant takes the waiter just peeked");
        _heap.Dequeue();
        flow.Scheduled = false;
        flow.Queue.Dequeue();
        flow.Waiting--;
        flow.InService++;
        Count--;
        waiter.IsWaiting = false;
        order.OnGranted(waiter, flow);
        DropRemovedFront(flow);
        Reschedule(flow);
        if (++_grantsSinceSweep >= SweepEvery)
        {
            Sweep();
        }
    }

    /// <summary>Who waits: one entry per token with requests waiting (for inspection, O(tokens)).</summary>
    public List<WaitingTokens> WaitingByToken()
    {
        var result = new List<WaitingTokens>();
        foreach (var flow in _flows.Values)
        {
            if (flow.Waiting > 0 && flow.Queue.FirstOrDefault(w => w.IsWaiting) is { } front)
            {
                result.Add(new WaitingTokens(flow.TokenId, front.Request.Priority, flow.Waiting, flow.Parked));
            }
        }

        return result;
    }

    /// <summary>
    /// Holds back the token of <paramref name="front"/> (from <see cref="TryPeekNext"/>), at its in-flight limit:
    /// its requests keep their places but leave the heap until <see cref="Unpark"/>.
    /// </summary>
    public void Park(Waiter front)
    {
        var flow = _flows[front.Request.TokenId];
        Debug.Assert(flow.Scheduled && ReferenceEquals(flow.Queue.Peek(), front), "Park takes the waiter just peeked");
        _heap.Dequeue();
        flow.Scheduled = false;
        flow.Parked = true;
    }

    /// <summary>Puts a parked token's requests back in line. Returns false when it was not parked.</summary>
    public bool Unpark(string tokenId)
    {
        if (!_flows.TryGetValue(tokenId, out var flow) || !flow.Parked)
        {
            return false;
        }

        flow.Parked = false;
        DropRemovedFront(flow);
        Reschedule(flow);
        return true;
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
        var flow = _flows[waiter.Request.TokenId];
        flow.Waiting--;
        flow.Removed++;
        if (flow.Waiting == 0)
        {
            // Nothing of this token waits any more: drop its entries and its heap entry at once.
            flow.Queue.Clear();
            flow.Removed = 0;
            flow.Version++;
            flow.Scheduled = false;
            flow.Parked = false;
        }
        else if (flow.Removed > CompactionFloor && flow.Removed > flow.Waiting)
        {
            var live = flow.Queue.Where(w => w.IsWaiting).ToArray();
            flow.Queue.Clear();
            Array.ForEach(live, flow.Queue.Enqueue);
            flow.Removed = 0;
        }
    }

    /// <summary>A lease granted to <paramref name="tokenId"/> ended.</summary>
    public void Released(string tokenId, int weight, long cost, int? completionTokens)
    {
        if (_flows.TryGetValue(tokenId, out var flow))
        {
            flow.InService--;
            if (order.OnReleased(flow, weight, cost, completionTokens) && flow.Scheduled)
            {
                Schedule(flow); // the front's key moves with the correction; its old heap entry goes stale
            }
        }
    }

    private void Schedule(Flow flow)
    {
        var front = flow.Queue.Peek();
        front.Key = order.KeyAtFront(front, flow);
        flow.Version++;
        flow.Scheduled = true;
        _heap.Enqueue((flow, flow.Version), (front.Key, order.TieBreak(front), front.Sequence));
    }

    private void Reschedule(Flow flow)
    {
        if (flow.Waiting > 0)
        {
            Schedule(flow);
        }
    }

    private static void DropRemovedFront(Flow flow)
    {
        while (flow.Queue.TryPeek(out var front) && !front.IsWaiting)
        {
            flow.Queue.Dequeue();
            flow.Removed--;
        }
    }

    /// <summary>
    /// Forgets idle tokens (nothing waiting or running) that the order no longer needs. Done in batches rather
    /// than as each token goes idle, so a token that comes and goes keeps its flow and costs no allocation.
    /// </summary>
    private void Sweep()
    {
        _grantsSinceSweep = 0;
        List<Flow>? idle = null;
        foreach (var flow in _flows.Values)
        {
            if (flow.Waiting == 0 && flow.InService == 0 && !flow.Scheduled && !order.Remembers(flow))
            {
                (idle ??= []).Add(flow);
            }
        }

        idle?.ForEach(f => _flows.Remove(f.TokenId));
    }
}
