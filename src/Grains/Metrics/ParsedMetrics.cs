namespace Dispatcher.Grains.Metrics;

/// <summary>What the parser made of one exposition: the samples it could read and one message per line it could not.</summary>
/// <param name="Samples">Every well-formed sample, in order.</param>
/// <param name="Types">The <c># TYPE</c> of each family that declared one.</param>
/// <param name="Errors">One message per skipped line, with its line number.</param>
public sealed record ParsedMetrics(IReadOnlyList<MetricSample> Samples, IReadOnlyDictionary<string, string> Types, IReadOnlyList<string> Errors)
{
    /// <summary>The sum of every series named <paramref name="name"/> (over all label sets), or null if there is none.</summary>
    public double? Sum(string name)
    {
        double? sum = null;
        foreach (var sample in Samples)
        {
            if (sample.Name == name && !double.IsNaN(sample.Value))
            {
                sum = (sum ?? 0) + sample.Value;
            }
        }

        return sum;
    }

    /// <summary>The largest value among the series named <paramref name="name"/>, or null if there is none.</summary>
    public double? Max(string name)
    {
        double? max = null;
        foreach (var sample in Samples)
        {
            if (sample.Name == name && !double.IsNaN(sample.Value))
            {
                max = max is null ? sample.Value : Math.Max(max.Value, sample.Value);
            }
        }

        return max;
    }
}
