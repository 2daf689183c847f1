using Dispatcher.Grains.Abstractions.Configuration;

namespace Dispatcher.Grains.Scheduling;

/// <summary>
/// Start-time fair queuing (Goyal, Vin and Cheng, 1996) across tokens, weight = priority. When a request
/// reaches the front of its token's queue it gets the start tag <c>S = max(V, F)</c>, F being the finish tag
/// of its token's last grant; the smallest start tag is served first, the virtual time V becomes it, and the
/// token's finish tag becomes <c>S + cost / weight</c>. So while tokens wait, their grants are proportional to
/// their weights, and a token that was idle restarts at V: it banks no credit. Equal start tags (every token
/// restarting at V shares one) go by the smaller finish tag, so a heavy token is not held behind a crowd of
/// light ones that merely started as early. Only granted requests are charged. In token mode the cost is the
/// token's recent average, corrected when the lease reports what it generated.
/// </summary>
internal sealed class FairOrder(FairnessMeasure measure) : ServiceOrder
{
    /// <summary>Virtual-time units of one unit of service at weight 1 (fixed point keeps decisions exact).</summary>
    public const long Scale = 1 << 20;

    /// <summary>The start tag of the latest grant.</summary>
    public long VirtualTime { get; private set; }

    public override long KeyAtFront(Waiter front, Flow flow)
    {
        front.Cost = measure == FairnessMeasure.Requests ? 1 : Math.Max(1, (long)Math.Round(flow.TokenEstimate));
        return Math.Max(VirtualTime, flow.Finish);
    }

    public override long TieBreak(Waiter front) => front.Key + (front.Cost * Scale / front.Request.Priority);

    public override void OnGranted(Waiter waiter, Flow flow)
    {
        VirtualTime = Math.Max(VirtualTime, waiter.Key);
        flow.Finish = waiter.Key + (waiter.Cost * Scale / waiter.Request.Priority);
    }

    public override bool OnReleased(Flow flow, int weight, long cost, int? completionTokens)
    {
        if (measure != FairnessMeasure.Tokens || completionTokens is not { } tokens)
        {
            return false;
        }

        var actual = Math.Max(1, tokens);
        flow.TokenEstimate = Math.Max(1, (0.75 * flow.TokenEstimate) + (0.25 * actual));
        flow.Finish += (actual - cost) * Scale / weight;
        return actual != cost;
    }

    /// <summary>An idle token whose finish tag is still ahead of V must keep it, or it could jump the line.</summary>
    public override bool Remembers(Flow flow) => flow.Finish > VirtualTime;
}
