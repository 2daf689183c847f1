using System.Globalization;

namespace Dispatcher.LoadDriver;

/// <summary>What a load run measured. Times in milliseconds.</summary>
public sealed class LoadResult
{
    public List<double> Latencies { get; } = [];

    public List<double> FirstBytes { get; } = [];

    /// <summary>Tokens per second after the first token, per streamed request of at least two tokens.</summary>
    public List<double> TokenRates { get; } = [];

    public Dictionary<int, int> Statuses { get; } = [];

    public int Errors { get; set; }

    public TimeSpan Elapsed { get; set; }

    public int Requests => Latencies.Count + Errors;

    public double RequestsPerSecond => Latencies.Count / Elapsed.TotalSeconds;

    public static double Percentile(List<double> values, double p)
    {
        if (values.Count == 0)
        {
            return double.NaN;
        }

        var sorted = values.Order().ToList();
        return sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Count) - 1, 0, sorted.Count - 1)];
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{Requests} requests in {Elapsed.TotalSeconds:0.0} s: {RequestsPerSecond:0} req/s, latency p50 {Percentile(Latencies, 0.5):0.00} p90 {Percentile(Latencies, 0.9):0.00} p99 {Percentile(Latencies, 0.99):0.00} ms, "
        + $"first byte p50 {Percentile(FirstBytes, 0.5):0.00} p99 {Percentile(FirstBytes, 0.99):0.00} ms, token rate p50 {Percentile(TokenRates, 0.5):0.0}/s, errors {Errors}, statuses {string.Join(' ', Statuses.OrderBy(s => s.Key).Select(s => $"{s.Key}x{s.Value}"))}");
}
