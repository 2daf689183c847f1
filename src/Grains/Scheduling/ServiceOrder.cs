using Dispatcher.Grains.Abstractions.Configuration;

namespace Dispatcher.Grains.Scheduling;

/// <summary>
/// Orders the tokens that have requests waiting. Each token's requests are served FIFO; the order picks which
/// token goes next by the key it gives the token's front request when that request reaches the front
/// (smallest first, ties in arrival order). Requests behind the front hold no key, so one that times out or
/// is cancelled costs its token nothing. Told of every grant and release. Not thread-safe.
/// </summary>
internal abstract class ServiceOrder
{
    public static ServiceOrder Create(SchedulingOptions options, TimeProvider time) => options.Policy switch
    {
        SchedulingPolicy.Strict => new StrictOrder(options.AgingInterval, time),
        _ => new FairOrder(options.Fairness),
    };

    /// <summary>The key of <paramref name="front"/>, now at the front of its token's <paramref name="flow"/>.</summary>
    public abstract long KeyAtFront(Waiter front, Flow flow);

    /// <summary>Orders fronts with equal keys, smaller first, before arrival order does. None by default.</summary>
    public virtual long TieBreak(Waiter front) => 0;

    /// <summary><paramref name="waiter"/> (the front of <paramref name="flow"/>, with its key) got a lease.</summary>
    public virtual void OnGranted(Waiter waiter, Flow flow)
    {
    }

    /// <summary>
    /// A lease of <paramref name="flow"/>'s token ended, with what it generated. Returns true when that changed
    /// the key the token's front request should have.
    /// </summary>
    public virtual bool OnReleased(Flow flow, int weight, long cost, int? completionTokens) => false;

    /// <summary>Whether an idle flow (nothing waiting or running) still carries information.</summary>
    public virtual bool Remembers(Flow flow) => false;
}
