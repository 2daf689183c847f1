namespace Dispatcher.Grains.Capacity;

/// <summary>
/// Estimates the tokens/s each running request of one replica gets, from successive scrapes within a window
/// (<c>shared/reference/vllm-interface.md</c> §5): preferably from the inter-token-latency histogram
/// (decode tokens per second of inter-token time, which includes the stalls users feel), else from the
/// generated-tokens counter divided by the time-weighted mean running count. A counter that goes down, or a
/// changed <c>_created</c>, is a restart: the window starts over. While idle the last estimate is kept.
/// Also fits a decode step time <c>base + perRunning * running</c> to the estimates seen at different
/// loads, to predict the rate with one more request. Pure; the clock is the caller's.
/// </summary>
internal sealed class ThroughputEstimator(TimeSpan window)
{
    private const int FitCapacity = 64;
    private readonly List<(DateTimeOffset At, VllmScrape Scrape)> _samples = [];
    private readonly Queue<(double Running, double StepSeconds)> _fit = new();

    /// <summary>The latest estimate, tokens/s per running request; null until the first.</summary>
    public double? PerUserRate { get; private set; }

    /// <summary>The mean running count of the window behind <see cref="PerUserRate"/>.</summary>
    public double ObservedRunning { get; private set; }

    /// <summary>Restarts seen (counters that went down).</summary>
    public int Restarts { get; private set; }

    /// <summary>The fitted step model, when the estimates spanned enough different loads.</summary>
    public (double BaseSeconds, double PerRunningSeconds)? StepModel { get; private set; }

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
        if (meanRunning >= 1)
        {
            _fit.Enqueue((meanRunning, 1 / r));
            if (_fit.Count > FitCapacity)
            {
                _fit.Dequeue();
            }

            StepModel = Fit();
        }
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

    /// <summary>Least squares of step time on running count; only a physically sensible fit over a real spread.</summary>
    private (double, double)? Fit()
    {
        if (_fit.Count < 3)
        {
            return null;
        }

        double n = _fit.Count, sumX = 0, sumY = 0, sumXx = 0, sumXy = 0;
        foreach (var (x, y) in _fit)
        {
            sumX += x;
            sumY += y;
            sumXx += x * x;
            sumXy += x * y;
        }

        var variance = (sumXx / n) - ((sumX / n) * (sumX / n));
        if (variance < 1)
        {
            return null; // loads too alike to tell the per-request cost from the fixed cost
        }

        var slope = ((sumXy / n) - ((sumX / n) * (sumY / n))) / variance;
        var intercept = (sumY / n) - (slope * sumX / n);
        return slope >= 0 && intercept > 0 ? (intercept, slope) : null;
    }

    private static double Delta(double? before, double? now) => before is { } a && now is { } b ? b - a : 0;
}
