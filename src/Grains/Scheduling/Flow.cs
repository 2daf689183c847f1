namespace Dispatcher.Grains.Scheduling;

/// <summary>
/// One token's waiting requests in a model (FIFO), and what the service order remembers of the token.
/// Mutated only inside the model grain's turns.
/// </summary>
internal sealed class Flow(string tokenId)
{
    public string TokenId { get; } = tokenId;

    /// <summary>The token's waiting requests in arrival order; removed ones stay until they reach the front.</summary>
    public Queue<Waiter> Queue { get; } = new();

    /// <summary>Live waiters in <see cref="Queue"/>.</summary>
    public int Waiting { get; set; }

    /// <summary>Removed waiters still in <see cref="Queue"/>.</summary>
    public int Removed { get; set; }

    /// <summary>Leases granted to the token and not yet released.</summary>
    public int InService { get; set; }

    /// <summary>Bumped whenever the flow's entry in the heap changes; older entries are stale.</summary>
    public long Version { get; set; }

    /// <summary>True while the flow has a current entry in the heap.</summary>
    public bool Scheduled { get; set; }

    /// <summary>True while the token is at its in-flight limit: its requests wait outside the heap.</summary>
    public bool Parked { get; set; }

    /// <summary>Fair order: the virtual time at which the token's last granted request's share ended.</summary>
    public long Finish { get; set; }

    /// <summary>Fair order, token mode: recent generated tokens per request (moving average), at least 1.</summary>
    public double TokenEstimate { get; set; } = 1;
}
