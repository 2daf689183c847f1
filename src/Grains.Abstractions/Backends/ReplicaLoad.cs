namespace Dispatcher.Grains.Abstractions.Backends;

/// <summary>
/// A replica's load as its last <c>/metrics</c> scrape showed it, with its per-user token rate.
/// Immutable; replaced whole with every scrape.
/// </summary>
/// <param name="Running">vLLM's running requests (summed over engines).</param>
/// <param name="Waiting">vLLM's own waiting requests (summed over engines).</param>
/// <param name="KvCacheUsage">KV-cache usage from 0 to 1 (the fullest engine), when reported.</param>
/// <param name="PerUserRate">Estimated tokens/s each running request gets now; null until known.</param>
/// <param name="ObservedRunning">The mean running count the estimate was made at.</param>
[GenerateSerializer, Immutable, Alias("dispatcher.ReplicaLoad")]
public sealed record ReplicaLoad(int Running, int Waiting, double? KvCacheUsage, double? PerUserRate, double ObservedRunning)
{
    /// <summary>
    /// The tokens/s each of <paramref name="running"/> requests would get, assuming the replica's total rate stays
    /// what it is now and is shared by more requests. On a GPU the total still grows a little with the batch, so
    /// this errs low: by a percent or two near a realistic floor, where it matters, and by much more at small
    /// batches, where it does not (the rate is far above any floor there). Null when no rate is known.
    /// </summary>
    public double? PredictPerUserRate(int running)
    {
        var observed = Math.Max(ObservedRunning, 1);
        return PerUserRate is { } rate ? rate * observed / Math.Max(running, observed) : null;
    }
}
