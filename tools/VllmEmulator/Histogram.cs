namespace Dispatcher.VllmEmulator;

/// <summary>A cumulative Prometheus histogram. Not thread-safe; the engine guards it.</summary>
internal sealed class Histogram(double[] bounds)
{
    private readonly long[] _counts = new long[bounds.Length + 1];

    public double[] Bounds { get; } = bounds;

    public double Sum { get; private set; }

    public long Count { get; private set; }

    public void Observe(double value)
    {
        var i = 0;
        while (i < Bounds.Length && value > Bounds[i])
        {
            i++;
        }

        _counts[i]++;
        Sum += value;
        Count++;
    }

    /// <summary>Cumulative count of observations at or below each bound, then +Inf.</summary>
    public long[] Cumulative()
    {
        var result = new long[_counts.Length];
        long running = 0;
        for (var i = 0; i < _counts.Length; i++)
        {
            running += _counts[i];
            result[i] = running;
        }

        return result;
    }
}
