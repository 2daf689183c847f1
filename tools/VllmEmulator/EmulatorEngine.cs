namespace Dispatcher.VllmEmulator;

/// <summary>
/// The emulated GPU: admits up to <see cref="EmulatorOptions.MaxNumSeqs"/> requests, queues the rest, and
/// paces every running request's tokens by the current step time. Keeps the counters and histograms that
/// <c>/metrics</c> exposes consistent with what it did. Thread-safe.
/// </summary>
public sealed class EmulatorEngine : IDisposable
{
    internal static readonly double[] TtftBuckets = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80, 160, 640, 2560];
    internal static readonly double[] ItlBuckets = [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80];
    internal static readonly double[] E2eBuckets = [0.3, 0.5, 0.8, 1, 1.5, 2, 2.5, 5, 10, 15, 20, 30, 40, 50, 60, 120, 240, 480, 960, 1920, 7680];

    private readonly Lock _gate = new();
    private readonly SemaphoreSlim _slots;
    private readonly TimeProvider _time;
    private int _running;
    private int _waiting;
    private int _maxRunning;
    private long _busySince;
    private double _busySeconds;
    private int _maxWaiting;
    private double? _slowestDecodeRate;
    private long _received;
    private long _kvTokens;
    private long _promptTokens;
    private long _generationTokens;
    private readonly Dictionary<string, long> _finished = new(StringComparer.Ordinal) { ["stop"] = 0, ["length"] = 0, ["abort"] = 0, ["error"] = 0 };

    public EmulatorEngine(EmulatorOptions options, TimeProvider time)
    {
        Options = options;
        _time = time;
        _slots = new SemaphoreSlim(options.MaxNumSeqs, options.MaxNumSeqs);
        CreatedAt = time.GetUtcNow();
    }

    public EmulatorOptions Options { get; }

    /// <summary>When the engine started; exposed as the counters' <c>_created</c> value.</summary>
    public DateTimeOffset CreatedAt { get; }

    internal Histogram TimeToFirstToken { get; } = new(TtftBuckets);

    internal Histogram InterTokenLatency { get; } = new(ItlBuckets);

    internal Histogram EndToEndLatency { get; } = new(E2eBuckets);

    internal Lock Gate => _gate;

    /// <summary>The engine's counters now.</summary>
    public EngineStats Stats()
    {
        lock (_gate)
        {
            var busy = _busySeconds + (_running > 0 ? _time.GetElapsedTime(_busySince).TotalSeconds : 0);
            return new EngineStats(_running, _waiting, _received, _finished["stop"] + _finished["length"], _finished["abort"], _generationTokens,
                _maxRunning, _maxWaiting, _slowestDecodeRate, busy);
        }
    }

    /// <summary>
    /// Runs one request: waits for a slot, prefills, then produces <paramref name="tokens"/> tokens, calling
    /// <paramref name="onToken"/> with each token's index, and finishes with <paramref name="finishReason"/>.
    /// <paramref name="stallAfter"/> tokens into the request it stops producing and waits for cancellation.
    /// Cancellation counts the request as aborted.
    /// </summary>
    public async Task RunAsync(int promptTokens, int tokens, string finishReason, int? stallAfter, Func<int, Task> onToken, CancellationToken cancellationToken)
    {
        var arrived = _time.GetTimestamp();
        lock (_gate)
        {
            _received++;
        }

        if (!_slots.Wait(0, CancellationToken.None))
        {
            // Only a request that finds every sequence slot taken waits, as in vLLM's scheduler.
            lock (_gate)
            {
                _waiting++;
                _maxWaiting = Math.Max(_maxWaiting, _waiting);
            }

            try
            {
                await _slots.WaitAsync(cancellationToken);
            }
            catch (OperationCanceledException)
            {
                lock (_gate)
                {
                    _waiting--;
                    _finished["abort"]++;
                }

                throw;
            }

            lock (_gate)
            {
                _waiting--;
            }
        }

        lock (_gate)
        {
            if (_running == 0)
            {
                _busySince = _time.GetTimestamp();
            }

            _running++;
            _maxRunning = Math.Max(_maxRunning, _running);
            _kvTokens += promptTokens;
            _promptTokens += promptTokens;
        }

        var produced = 0;
        var finishedNormally = false;
        long firstTokenAt = 0;
        try
        {
            await Task.Delay(StepTime() + (Options.PrefillPerToken * promptTokens), _time, cancellationToken);
            var last = _time.GetTimestamp();
            for (; produced < tokens; produced++)
            {
                if (produced > 0)
                {
                    await Task.Delay(StepTime(), _time, cancellationToken);
                }

                if (produced == stallAfter)
                {
                    await Task.Delay(Timeout.Infinite, cancellationToken);
                }

                var now = _time.GetTimestamp();
                lock (_gate)
                {
                    _generationTokens++;
                    _kvTokens++;
                    if (produced == 0)
                    {
                        firstTokenAt = now;
                        TimeToFirstToken.Observe(_time.GetElapsedTime(arrived, now).TotalSeconds);
                    }
                    else
                    {
                        InterTokenLatency.Observe(_time.GetElapsedTime(last, now).TotalSeconds);
                    }
                }

                last = now;
                await onToken(produced);
            }

            finishedNormally = true;
        }
        finally
        {
            lock (_gate)
            {
                _running--;
                if (_running == 0)
                {
                    _busySeconds += _time.GetElapsedTime(_busySince).TotalSeconds;
                }

                _kvTokens -= promptTokens + produced;
                EndToEndLatency.Observe(_time.GetElapsedTime(arrived).TotalSeconds);
                var reason = finishedNormally ? finishReason : cancellationToken.IsCancellationRequested ? "abort" : "error";
                if (finishedNormally && produced >= 10)
                {
                    var rate = (produced - 1) / _time.GetElapsedTime(firstTokenAt).TotalSeconds;
                    _slowestDecodeRate = Math.Min(_slowestDecodeRate ?? double.MaxValue, rate);
                }

                _finished[reason] = _finished.GetValueOrDefault(reason) + 1;
            }

            _slots.Release();
        }
    }

    public void Dispose() => _slots.Dispose();

    /// <summary>The step time at the current concurrency.</summary>
    public TimeSpan StepTime()
    {
        int running;
        lock (_gate)
        {
            running = Math.Max(_running, 1);
        }

        return Options.StepBase + (Options.StepPerRunning * running);
    }

    internal (int Running, int Waiting, double KvUsage, long PromptTokens, long GenerationTokens, IReadOnlyDictionary<string, long> Finished) Snapshot()
    {
        lock (_gate)
        {
            return (_running, _waiting, Math.Clamp((double)_kvTokens / Options.KvCacheTokens, 0, 1), _promptTokens, _generationTokens,
                new Dictionary<string, long>(_finished, StringComparer.Ordinal));
        }
    }
}
