using Dispatcher.Grains.Abstractions.Configuration;

namespace Dispatcher.Grains.Scheduling;

/// <summary>
/// Start-time fair queuing (Goyal, Vin and Cheng, 1996) across tokens, weight = priority. Each token is a flow.
/// A request arriving at virtual time V gets the start tag <c>S = max(V, F)</c>, where F is its flow's last
/// finish tag, and the finish tag <c>S + cost / weight</c>; the smallest start tag is served first and V
/// becomes it. While flows wait, their grants are proportional to their weights; FIFO holds within a flow;
/// a flow that was idle restarts at V, so it banks no credit. In token mode the cost charged at arrival is the
/// flow's recent average and is corrected when the lease reports what it generated.
/// </summary>
internal sealed class FairOrder(FairnessMeasure measure) : ServiceOrder
{
    /// <summary>Virtual-time units of one unit of service at weight 1 (fixed point keeps decisions exact).</summary>
    public const long Scale = 1 << 20;

    private readonly Dictionary<string, Flow> _flows = new(StringComparer.Ordinal);

    /// <summary>The start tag of the latest grant.</summary>
    public long VirtualTime { get; private set; }

    /// <summary>Flows still remembered (waiting, in service, or ahead of virtual time).</summary>
    public int FlowCount => _flows.Count;

    public override void OnArrival(Waiter waiter)
    {
        if (!_flows.TryGetValue(waiter.Request.TokenId, out var flow))
        {
            flow = new Flow();
            _flows.Add(waiter.Request.TokenId, flow);
        }

        var cost = measure == FairnessMeasure.Requests ? 1 : flow.TokenEstimate;
        var start = Math.Max(VirtualTime, flow.LastFinish);
        waiter.Key = start;
        waiter.Cost = cost;
        waiter.FinishTag = start + (cost * Scale / waiter.Request.Priority);
        flow.LastFinish = waiter.FinishTag;
        flow.Waiting++;
    }

    public override void OnGranted(Waiter waiter)
    {
        VirtualTime = Math.Max(VirtualTime, waiter.Key);
        var flow = _flows[waiter.Request.TokenId];
        flow.Waiting--;
        flow.InService++;
    }

    public override void OnAbandoned(Waiter waiter)
    {
        var flow = _flows[waiter.Request.TokenId];
        flow.Waiting--;
        if (flow.LastFinish == waiter.FinishTag)
        {
            // It was the flow's latest request: give its reservation back.
            flow.LastFinish = waiter.Key;
        }

        Forget(waiter.Request.TokenId, flow);
    }

    public override void OnReleased(string tokenId, int weight, long cost, int? completionTokens)
    {
        if (!_flows.TryGetValue(tokenId, out var flow))
        {
            return;
        }

        flow.InService--;
        if (measure == FairnessMeasure.Tokens && completionTokens is { } tokens)
        {
            var actual = Math.Max(1, tokens);
            flow.LastFinish += (actual - cost) * Scale / weight;
            flow.TokenEstimate = Math.Max(1, ((3 * flow.TokenEstimate) + actual) / 4);
        }

        Forget(tokenId, flow);
    }

    /// <summary>A flow with nothing waiting or running whose finish tag is behind V would restart at V anyway.</summary>
    private void Forget(string tokenId, Flow flow)
    {
        if (flow.Waiting == 0 && flow.InService == 0 && flow.LastFinish <= VirtualTime)
        {
            _flows.Remove(tokenId);
        }
    }

    private sealed class Flow
    {
        public long LastFinish { get; set; }

        public int Waiting { get; set; }

        public int InService { get; set; }

        /// <summary>Recent generated tokens per request (token mode), at least 1.</summary>
        public long TokenEstimate { get; set; } = 1;
    }
}
