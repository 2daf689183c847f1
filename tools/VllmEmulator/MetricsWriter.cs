using System.Globalization;
using System.Text;

namespace Dispatcher.VllmEmulator;

/// <summary>Writes the engine's state as vLLM V1 does: Prometheus text 0.0.4, <c>vllm:</c> names, sorted labels.</summary>
internal static class MetricsWriter
{
    public static string Write(EmulatorEngine engine)
    {
        var model = Escape(engine.Options.ModelName);
        var labels = $"engine=\"0\",model_name=\"{model}\"";
        var created = Format(engine.CreatedAt.ToUnixTimeMilliseconds() / 1000.0);
        var text = new StringBuilder(8192);
        var state = engine.Snapshot();

        Gauge(text, "vllm:num_requests_running", "Number of requests in model execution batches.", labels, state.Running);
        Gauge(text, "vllm:num_requests_waiting", "Number of requests waiting to be processed.", labels, state.Waiting);
        Gauge(text, "vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.", labels, state.KvUsage);
        Counter(text, "vllm:prompt_tokens", "Number of prefill tokens processed.", labels, state.PromptTokens, created);
        Counter(text, "vllm:generation_tokens", "Number of generation tokens processed.", labels, state.GenerationTokens, created);

        text.Append("# HELP vllm:request_success_total Count of successfully processed requests.\n# TYPE vllm:request_success_total counter\n");
        foreach (var (reason, count) in state.Finished.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            text.Append(CultureInfo.InvariantCulture, $"vllm:request_success_total{{engine=\"0\",finished_reason=\"{reason}\",model_name=\"{model}\"}} {Format(count)}\n");
        }

        lock (engine.Gate)
        {
            HistogramFamily(text, "vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds.", model, engine.TimeToFirstToken, created);
            HistogramFamily(text, "vllm:inter_token_latency_seconds", "Histogram of inter-token latency in seconds.", model, engine.InterTokenLatency, created);
            HistogramFamily(text, "vllm:e2e_request_latency_seconds", "Histogram of e2e request latency in seconds.", model, engine.EndToEndLatency, created);
        }

        var blocks = engine.Options.KvCacheTokens / 16;
        text.Append("# HELP vllm:cache_config_info Information of the LLMEngine CacheConfig\n# TYPE vllm:cache_config_info gauge\n");
        text.Append(CultureInfo.InvariantCulture, $"vllm:cache_config_info{{block_size=\"16\",cache_dtype=\"auto\",engine=\"0\",num_gpu_blocks=\"{blocks}\"}} 1.0\n");
        return text.ToString();
    }

    /// <summary>Formats a sample value the way Python's prometheus_client does (<c>3.0</c>, <c>1.5e+09</c>, <c>+Inf</c>).</summary>
    public static string Format(double value)
    {
        if (double.IsPositiveInfinity(value))
        {
            return "+Inf";
        }

        if (double.IsNegativeInfinity(value))
        {
            return "-Inf";
        }

        if (double.IsNaN(value))
        {
            return "NaN";
        }

        if (Math.Abs(value) >= 1e6 && value == Math.Floor(value))
        {
            var mantissa = value.ToString("0.################e+00", CultureInfo.InvariantCulture);
            return mantissa;
        }

        var text = value.ToString("R", CultureInfo.InvariantCulture);
        return text.Contains('.', StringComparison.Ordinal) || text.Contains('E', StringComparison.Ordinal) ? text.Replace("E", "e", StringComparison.Ordinal) : text + ".0";
    }

    private static void Gauge(StringBuilder text, string name, string help, string labels, double value) =>
        text.Append(CultureInfo.InvariantCulture, $"# HELP {name} {help}\n# TYPE {name} gauge\n{name}{{{labels}}} {Format(value)}\n");

    private static void Counter(StringBuilder text, string name, string help, string labels, double value, string created)
    {
        text.Append(CultureInfo.InvariantCulture, $"# HELP {name}_total {help}\n# TYPE {name}_total counter\n{name}_total{{{labels}}} {Format(value)}\n");
        text.Append(CultureInfo.InvariantCulture, $"# HELP {name}_created {help}\n# TYPE {name}_created gauge\n{name}_created{{{labels}}} {created}\n");
    }

    private static void HistogramFamily(StringBuilder text, string name, string help, string model, Histogram histogram, string created)
    {
        text.Append(CultureInfo.InvariantCulture, $"# HELP {name} {help}\n# TYPE {name} histogram\n");
        var cumulative = histogram.Cumulative();
        for (var i = 0; i < cumulative.Length; i++)
        {
            var le = i < histogram.Bounds.Length ? Format(histogram.Bounds[i]) : "+Inf";
            text.Append(CultureInfo.InvariantCulture, $"{name}_bucket{{engine=\"0\",le=\"{le}\",model_name=\"{model}\"}} {Format(cumulative[i])}\n");
        }

        var labels = $"engine=\"0\",model_name=\"{model}\"";
        text.Append(CultureInfo.InvariantCulture, $"{name}_count{{{labels}}} {Format(histogram.Count)}\n");
        text.Append(CultureInfo.InvariantCulture, $"{name}_sum{{{labels}}} {Format(histogram.Sum)}\n");
        text.Append(CultureInfo.InvariantCulture, $"# HELP {name}_created {help}\n# TYPE {name}_created gauge\n{name}_created{{{labels}}} {created}\n");
    }

    private static string Escape(string value) =>
        value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);
}
