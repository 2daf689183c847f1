namespace Dispatcher.Grains.Abstractions.Configuration;

/// <summary>The <c>Dispatcher:Scheduling</c> section: the order in which a model's waiting requests are served.</summary>
public sealed class SchedulingOptions
{
    /// <summary>The highest priority (weight) a token or request may have.</summary>
    public const int MaxPriority = 1000;

    /// <summary>Fair (default): weighted fair sharing by priority. Strict: priority order with aging.</summary>
    public SchedulingPolicy Policy { get; set; } = SchedulingPolicy.Fair;

    /// <summary>What fair sharing counts as service: requests (default) or generated tokens reported at release.</summary>
    public FairnessMeasure Fairness { get; set; } = FairnessMeasure.Requests;

    /// <summary>
    /// Strict mode only: a waiting request's effective priority doubles with every interval it waits, so the
    /// lowest priority still progresses (a 1000-fold gap closes in 10 intervals). Default 5 s, so every gap
    /// closes within the default 60 s queue timeout.
    /// </summary>
    public TimeSpan AgingInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// When true, the request's effective priority is sent to vLLM as its own <c>priority</c> field, mapped to
    /// vLLM's order (lower is sooner: <c>MaxPriority - priority</c>), for replicas run with
    /// <c>--scheduling-policy priority</c>. When false (default) a client's <c>priority</c> field is removed
    /// before forwarding, because vLLM reads it the other way round (and V0 engines reject it).
    /// </summary>
    public bool ForwardPriority { get; set; }
}
