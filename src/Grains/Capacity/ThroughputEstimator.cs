namespace Dispatcher.Grains.Capacity;

/// <summary>
/// Estimates the tokens/s each running request of one replica gets, from successive scrapes within a window
/// (<c>shared/reference/vllm-interface.md</c> §5): preferably from the inter-token-latency histogram
/// (decode tokens per second of inter-token time, which includes the stalls users feel), else from the
/// generated-tokens counter divided by the time-weighted mean running count. A counter that goes down, or a
/// changed <c>_created</c>, is a restart: the window starts over. While idle the last estimate is kept.
/// Pure; the clock is the caller's.
/// </summary>
internal sealed class ThroughputEstimator(TimeSpan window)
{
    private readonly List<(DateTimeOffset At, VllmScrape Scrape)> _samples = [];

    /// <summary>The latest estimate, tokens/s per running request; null until the first.</summary>
    public double? PerUserRate { get; private set; }

    /// <summary>The mean running count of the window behind <see cref="PerUserRate"/>.</summary>
    public double ObservedRunning { get; private set; }

    /// <summary>Restarts seen (counters that went down).</summary>
    public int Restarts { get; private set; }

    public void Observe(DateTimeOffset at, VllmScrape scrape)
    {
        if (_samples.Count > 0 && IsRestart(_samples[^1].Scrape, scrape))
        {
            _samples.Clear();
            Restarts++;
        }

        _samples.Add((at, scrape));
        // Keep the newest sample at or before the window's start as the base of the differences.
        while (_samples.Count > 2 && _samples[1].At <= at - window)
        {
            _samples.RemoveAt(0);
        }

        Estimate();
    }

    private static bool IsRestart(VllmScrape before, VllmScrape now) =>
        Decreased(before.GenerationTokens, now.GenerationTokens)
        || Decreased(before.InterTokenCount, now.InterTokenCount)
        || Decreased(before.FirstTokens, now.FirstTokens)
        || (before.CreatedAt is { } a && now.CreatedAt is { } b && a != b);

    private static bool Decreased(double? before, double? now) => before is { } a && now is { } b && b < a;

    private void Estimate()
    {
        var (firstAt, first) = _samples[0];
        var (lastAt, last) = _samples[^1];
        var seconds = (lastAt - firstAt).TotalSeconds;
        if (seconds <= 0)
        {
            return;
        }

        var meanRunning = MeanRunning();
        double? rate = null;
        var interTokenSeconds = Delta(first.InterTokenSeconds, last.InterTokenSeconds);
        var interTokens = Delta(first.InterTokenCount, last.InterTokenCount);
        var generated = Delta(first.GenerationTokens, last.GenerationTokens);
        if (interTokenSeconds > 0 && interTokens > 0)
        {
            // Decode tokens per second of inter-token time; token-weighted so speculative decoding counts right.
            var decodeTokens = generated - Delta(first.FirstTokens, last.FirstTokens);
            rate = (decodeTokens > 0 ? decodeTokens : interTokens) / interTokenSeconds;
        }
        else if (generated > 0 && meanRunning >= 0.5)
        {
            rate = generated / seconds / meanRunning;
        }

        if (rate is not { } r || !double.IsFinite(r) || r <= 0)
        {
            return; // idle or no usable counters: keep the last estimate
        }

        PerUserRate = r;
        ObservedRunning = meanRunning;
    }

    /// <summary>Time-weighted mean of the running count over the window (trapezoid rule).</summary>
    private double MeanRunning()
    {
        double area = 0;
        for (var i = 1; i < _samples.Count; i++)
        {
            var dt = (_samples[i].At - _samples[i - 1].At).TotalSeconds;
            area += dt * (_samples[i].Scrape.Running + _samples[i - 1].Scrape.Running) / 2;
        }

        var total = (_samples[^1].At - _samples[0].At).TotalSeconds;
        return total > 0 ? area / total : _samples[^1].Scrape.Running;
    }

    private static double Delta(double? before, double? now) => before is { } a && now is { } b ? b - a : 0;
}
