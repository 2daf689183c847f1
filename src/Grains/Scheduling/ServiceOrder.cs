using Dispatcher.Grains.Abstractions.Configuration;

namespace Dispatcher.Grains.Scheduling;

/// <summary>
/// Gives each arriving request its place in the wait list: a key, smallest served first, ties in arrival
/// order. Keys are fixed at arrival, so the list is one binary heap and every decision is O(log n).
/// Told of every grant, abandonment and release so it can account for service. Not thread-safe.
/// </summary>
internal abstract class ServiceOrder
{
    public static ServiceOrder Create(SchedulingOptions options, TimeProvider time) => options.Policy switch
    {
        SchedulingPolicy.Strict => new StrictOrder(options.AgingInterval, time),
        _ => new FairOrder(options.Fairness),
    };

    /// <summary>Sets the waiter's key (and any accounting of its own) as it joins the wait list.</summary>
    public abstract void OnArrival(Waiter waiter);

    /// <summary>The waiter got a lease.</summary>
    public virtual void OnGranted(Waiter waiter)
    {
    }

    /// <summary>The waiter left without a lease (timeout, cancellation).</summary>
    public virtual void OnAbandoned(Waiter waiter)
    {
    }

    /// <summary>A lease granted to a waiter of <paramref name="tokenId"/> ended, with what it generated.</summary>
    public virtual void OnReleased(string tokenId, int weight, long cost, int? completionTokens)
    {
    }
}
