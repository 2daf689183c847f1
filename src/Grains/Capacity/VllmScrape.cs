using Dispatcher.Grains.Metrics;

namespace Dispatcher.Grains.Capacity;

/// <summary>
/// What one <c>/metrics</c> scrape says about load, summed over vLLM's <c>engine</c> label, reading the V1
/// names first and the V0 names they replaced second (<c>shared/reference/vllm-interface.md</c> §4.5).
/// </summary>
/// <param name="Running">Requests in the batch.</param>
/// <param name="Waiting">Requests queued in vLLM (plus V0's swapped ones).</param>
/// <param name="KvCacheUsage">KV-cache usage of the fullest engine, 0 to 1.</param>
/// <param name="GenerationTokens">The generated-tokens counter.</param>
/// <param name="InterTokenSeconds">The inter-token-latency histogram's <c>_sum</c>.</param>
/// <param name="InterTokenCount">The inter-token-latency histogram's <c>_count</c>.</param>
/// <param name="FirstTokens">The time-to-first-token histogram's <c>_count</c> (first tokens produced).</param>
/// <param name="CreatedAt">The generated-tokens counter's <c>_created</c> time, to tell a restart.</param>
internal sealed record VllmScrape(
    double Running,
    double Waiting,
    double? KvCacheUsage,
    double? GenerationTokens,
    double? InterTokenSeconds,
    double? InterTokenCount,
    double? FirstTokens,
    double? CreatedAt)
{
    /// <summary>Reads a parsed scrape; null when it has no vLLM metrics (not vLLM, or <c>--disable-log-stats</c>).</summary>
    public static VllmScrape? From(ParsedMetrics metrics)
    {
        if (metrics.Sum("vllm:num_requests_running") is not { } running)
        {
            return null;
        }

        var waiting = (metrics.Sum("vllm:num_requests_waiting") ?? 0) + (metrics.Sum("vllm:num_requests_swapped") ?? 0);
        var kv = metrics.Max("vllm:kv_cache_usage_perc") ?? metrics.Max("vllm:gpu_cache_usage_perc");
        var itl = metrics.Sum("vllm:inter_token_latency_seconds_count") is not null ? "vllm:inter_token_latency_seconds" : "vllm:time_per_output_token_seconds";
        return new VllmScrape(
            running,
            waiting,
            kv,
            metrics.Sum("vllm:generation_tokens_total"),
            metrics.Sum(itl + "_sum"),
            metrics.Sum(itl + "_count"),
            metrics.Sum("vllm:time_to_first_token_seconds_count"),
            metrics.Max("vllm:generation_tokens_created"));
    }
}
