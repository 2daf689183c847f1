namespace Dispatcher.Grains.Metrics;

/// <summary>One sample line of a Prometheus exposition: a series (name and labels) and its value.</summary>
/// <param name="Name">The metric name as written, e.g. <c>vllm:generation_tokens_total</c>.</param>
/// <param name="Labels">The labels in the order written, values unescaped.</param>
/// <param name="Value">The value; may be NaN or infinite.</param>
public sealed record MetricSample(string Name, IReadOnlyList<KeyValuePair<string, string>> Labels, double Value)
{
    /// <summary>The value of label <paramref name="name"/>, or null.</summary>
    public string? Label(string name)
    {
        foreach (var (key, value) in Labels)
        {
            if (key == name)
            {
                return value;
            }
        }

        return null;
    }
}
