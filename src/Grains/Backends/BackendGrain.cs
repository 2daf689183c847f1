using Dispatcher.Grains.Abstractions;
using Dispatcher.Grains.Abstractions.Backends;
using Dispatcher.Grains.Abstractions.Configuration;
using Dispatcher.Grains.Abstractions.Models;
using Dispatcher.Grains.Capacity;
using Dispatcher.Grains.Metrics;
using Dispatcher.Grains.Telemetry;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Dispatcher.Grains.Backends;

/// <summary>
/// One vLLM replica. On a grain timer it scrapes <c>/metrics</c> (every <c>ScrapeInterval</c>), estimates the
/// per-user token rate and publishes a new <see cref="BackendSnapshot"/> to the model grains that subscribed.
/// A replica whose scrapes fail <c>FailuresToEject</c> times in a row, or that a frontend could not reach, is
/// ejected: it is then probed on <c>/health</c> with exponential backoff and restored when it answers.
/// </summary>
internal sealed partial class BackendGrain : Grain, IBackendGrain
{
    private readonly HashSet<string> _subscribers = new(StringComparer.Ordinal);
    private readonly DispatcherOptions _options;
    private readonly CapacityOptions _capacity;
    private readonly IReplicaProbe _probe;
    private readonly TimeProvider _time;
    private readonly ILogger<BackendGrain> _logger;
    private readonly ThroughputEstimator _estimator;
    private readonly GrainsMetrics _metrics;
    private BackendSnapshot _snapshot = null!;
    private IGrainTimer? _timer;
    private int _failures;
    private TimeSpan _probeDelay;
    private bool _warnedNoMetrics;

    public BackendGrain(IOptions<DispatcherOptions> options, IReplicaProbe probe, GrainsMetrics metrics, TimeProvider time, ILogger<BackendGrain> logger)
    {
        _metrics = metrics;
        _options = options.Value;
        _capacity = _options.Capacity;
        _probe = probe;
        _time = time;
        _logger = logger;
        _estimator = new ThroughputEstimator(_capacity.EstimationWindow);
        _probeDelay = _capacity.ProbeBackoff;
    }

    private string Key => this.GetPrimaryKeyString();

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        var address = BackendAddress.TryNormalize(Key)
            ?? throw new InvalidOperationException($"Backend grain key '{Key}' is not an http(s) address.");

        // Versions grow across activations too (clock-based start), so a model grain that knew the replica's state from
        // an activation lost with its silo takes the new activation's snapshots.
        _snapshot = new BackendSnapshot(address, Healthy: true, ConfiguredCap(), Version: _time.GetUtcNow().ToUnixTimeMilliseconds() * 1000);
        _metrics.Replica(_snapshot);

        // Without metrics the timer only runs while the replica is ejected, to probe it back into service.
        var due = _capacity.UseMetrics ? TimeSpan.Zero : Timeout.InfiniteTimeSpan;
        _timer = this.RegisterGrainTimer(TickAsync, new GrainTimerCreationOptions(due, Timeout.InfiniteTimeSpan) { KeepAlive = true });
        return Task.CompletedTask;
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        _timer?.Dispose();
        _metrics.ReplicaGone(_snapshot.Address);
        return Task.CompletedTask;
    }

    public async Task<BackendSnapshot> SubscribeAsync(string model, CancellationToken cancellationToken)
    {
        if (_subscribers.Add(model) && ConfiguredCap() is var cap && cap != _snapshot.MaxConcurrentLeases)
        {
            await PublishAsync(_snapshot with { MaxConcurrentLeases = cap }); // a discovered replica: its model's cap
        }

        return _snapshot;
    }

    public Task UnsubscribeAsync(string model, CancellationToken cancellationToken)
    {
        _subscribers.Remove(model);
        if (_subscribers.Count == 0 && !ConfiguredAnywhere())
        {
            DeactivateOnIdle(); // a discovered replica that left: nothing to keep
        }

        return Task.CompletedTask;
    }

    public Task<BackendSnapshot> GetSnapshotAsync(CancellationToken cancellationToken) => Task.FromResult(_snapshot);

    public async Task ReportUnreachableAsync(string reason, CancellationToken cancellationToken)
    {
        if (_snapshot.Healthy)
        {
            await EjectAsync(reason);
        }
    }

    private async Task TickAsync(CancellationToken cancellationToken)
    {
        // The next tick is set before this one's I/O, so the cadence does not drift with the replica's latency.
        if (_snapshot.Healthy)
        {
            if (_capacity.UseMetrics)
            {
                _timer!.Change(_capacity.ScrapeInterval, Timeout.InfiniteTimeSpan);
                await ScrapeAsync(cancellationToken);
            }

            return;
        }

        _probeDelay = TimeSpan.FromTicks(Math.Min(_probeDelay.Ticks * 2, _capacity.MaxProbeBackoff.Ticks));
        _timer!.Change(_probeDelay, Timeout.InfiniteTimeSpan);
        if (await ProbeAsync(cancellationToken))
        {
            _failures = 0;
            _probeDelay = _capacity.ProbeBackoff;
            Log.Restored(_logger, Key);
            await PublishAsync(_snapshot with { Healthy = true });
            _timer.Change(_capacity.UseMetrics ? TimeSpan.Zero : Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan); // read its load straight away
        }
    }

    private async Task ScrapeAsync(CancellationToken cancellationToken)
    {
        ProbeResult result;
        using (var timeout = new CancellationTokenSource(_capacity.ScrapeTimeout, _time))
        {
            result = await _probe.ScrapeAsync(_snapshot.Address, timeout.Token);
        }

        if (result.Text is null)
        {
            _failures++;
            Log.ScrapeFailed(_logger, Key, result.Error ?? "no answer");
            if (_failures >= _capacity.FailuresToEject)
            {
                await EjectAsync($"{_failures} scrapes failed, the last: {result.Error}");
            }

            return;
        }

        _failures = 0;
        var scrape = VllmScrape.From(PrometheusTextParser.Parse(result.Text));
        if (scrape is null)
        {
            if (!_warnedNoMetrics)
            {
                _warnedNoMetrics = true;
                Log.NoVllmMetrics(_logger, Key);
            }

            return;
        }

        var restarts = _estimator.Restarts;
        _estimator.Observe(_time.GetUtcNow(), scrape);
        if (_estimator.Restarts != restarts)
        {
            Log.Restarted(_logger, Key);
        }

        var load = new ReplicaLoad(
            (int)Math.Round(scrape.Running),
            (int)Math.Round(scrape.Waiting),
            scrape.KvCacheUsage,
            _estimator.PerUserRate,
            _estimator.ObservedRunning);
        await PublishAsync(_snapshot with { Load = load });
    }

    private async Task<bool> ProbeAsync(CancellationToken cancellationToken)
    {
        using var timeout = new CancellationTokenSource(_capacity.ScrapeTimeout, _time);
        try
        {
            return await _probe.IsHealthyAsync(_snapshot.Address, timeout.Token);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    private async Task EjectAsync(string reason)
    {
        Log.Ejected(_logger, Key, reason);
        _probeDelay = _capacity.ProbeBackoff;
        await PublishAsync(_snapshot with { Healthy = false });
        _timer?.Change(_probeDelay, Timeout.InfiniteTimeSpan);
    }

    private async Task PublishAsync(BackendSnapshot snapshot)
    {
        _snapshot = snapshot with { Version = _snapshot.Version + 1 };
        _metrics.Replica(_snapshot);
        foreach (var model in _subscribers.ToArray())
        {
            await GrainFactory.GetGrainByKey<IModelGrain>(model).OnBackendChangedAsync(_snapshot, CancellationToken.None);
        }
    }

    /// <summary>
    /// The smallest hard cap among the models served by this replica (a replica may serve aliases): those that list it,
    /// and those that found it (they subscribed).
    /// </summary>
    private int? ConfiguredCap()
    {
        int? cap = null;
        foreach (var model in _options.Models)
        {
            var servesIt = Lists(model) || _subscribers.Contains(model.Name);
            if (servesIt && (model.MaxConcurrentLeasesPerBackend ?? _options.MaxConcurrentLeasesPerBackend) is { } modelCap)
            {
                cap = cap is null ? modelCap : Math.Min(cap.Value, modelCap);
            }
        }

        return cap ?? _options.MaxConcurrentLeasesPerBackend;
    }

    private bool ConfiguredAnywhere() => _options.Models.Exists(Lists);

    private bool Lists(ModelOptions model) => model.Backends.Exists(b => BackendAddress.TryNormalize(b) is { } uri && BackendAddress.Key(uri) == Key);
}
