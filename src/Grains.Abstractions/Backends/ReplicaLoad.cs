namespace Dispatcher.Grains.Abstractions.Backends;

/// <summary>
/// A replica's load as its last <c>/metrics</c> scrape showed it, with a model of its per-user token rate.
/// Immutable; replaced whole with every scrape.
/// </summary>
/// <param name="Running">vLLM's running requests (summed over engines).</param>
/// <param name="Waiting">vLLM's own waiting requests (summed over engines).</param>
/// <param name="KvCacheUsage">KV-cache usage from 0 to 1 (the fullest engine), when reported.</param>
/// <param name="PerUserRate">Estimated tokens/s each running request gets now; null until known.</param>
/// <param name="ObservedRunning">The mean running count the estimate was made at.</param>
/// <param name="StepBaseSeconds">Fitted fixed part of one decode step, when enough load variety was seen.</param>
/// <param name="StepPerRunningSeconds">Fitted cost of each running request in a step, with <paramref name="StepBaseSeconds"/>.</param>
public sealed record ReplicaLoad(
    int Running,
    int Waiting,
    double? KvCacheUsage,
    double? PerUserRate,
    double ObservedRunning,
    double? StepBaseSeconds,
    double? StepPerRunningSeconds)
{
    /// <summary>
    /// The tokens/s each of <paramref name="running"/> requests would get. With a fitted step model:
    /// <c>1 / (base + perRunning * running)</c>. Without one, the cautious assumption that the replica's total
    /// rate stays what it is now and is shared by more requests. Null when no rate is known.
    /// </summary>
    public double? PredictPerUserRate(int running)
    {
        if (running < 1)
        {
            return PerUserRate;
        }

        if (StepBaseSeconds is { } stepBase && StepPerRunningSeconds is { } perRunning)
        {
            return 1 / (stepBase + (perRunning * running));
        }

        return PerUserRate is { } rate ? rate * Math.Max(ObservedRunning, 1) / Math.Max(running, Math.Max(ObservedRunning, 1)) : null;
    }
}
