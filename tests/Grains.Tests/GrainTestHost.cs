using Dispatcher.Grains.Abstractions.Configuration;
using Dispatcher.Grains.Abstractions.Leases;
using Dispatcher.Grains.Abstractions.Models;
using Dispatcher.Grains.Abstractions.Tokens;
using Dispatcher.Grains.Backends;
using Dispatcher.Grains.Tests.Backends;
using Dispatcher.Grains.Tokens;
using Dispatcher.Testing;
using Microsoft.Extensions.DependencyInjection;
using Orleans.TestingHost;

namespace Dispatcher.Grains.Tests;

/// <summary>The real grains on the real in-process silo, with a fake clock and no sockets.</summary>
internal sealed class GrainTestHost : IAsyncDisposable
{
    public const string Model = "test-model";
    public const string OtherModel = "other-model";

    private readonly InProcessTestCluster _cluster;
    private int _requests;

    private GrainTestHost(DispatcherOptions options, ITokenStore? tokenStore, short silos)
    {
        Options = options;
        var builder = new InProcessTestClusterBuilder(silos);
        builder.ConfigureHost(host =>
        {
            var services = host.Services;
            services.AddSingleton<TimeProvider>(Time);
            services.AddSingleton(Microsoft.Extensions.Options.Options.Create(Options));
            services.AddSingleton<IReplicaProbe>(Probe);
            services.AddSingleton(Replicas);
            if (tokenStore is not null)
            {
                services.AddSingleton(tokenStore);
            }

            services.AddDispatcherGrains();
        });
        _cluster = builder.Build();
    }

    /// <summary>Starts a test cluster (one silo unless told) with the grains, a fake clock and scripted replicas.</summary>
    public static async Task<GrainTestHost> StartAsync(int backends = 1, int capacity = 1, Action<DispatcherOptions>? configure = null, ITokenStore? tokenStore = null, short silos = 1)
    {
        var options = new DispatcherOptions
        {
            Models =
            [
                new ModelOptions { Name = Model, Backends = [.. Enumerable.Range(0, backends).Select(i => $"http://10.0.0.{i + 1}:8000")], MaxConcurrentLeasesPerBackend = capacity },
                new ModelOptions { Name = OtherModel, Backends = ["http://10.0.1.1:8000"], MaxConcurrentLeasesPerBackend = 4 },
            ],
            Tokens =
            [
                new TokenOptions { Name = "high", Token = "secret-high", Priority = 10, Threshold = 5 },
                new TokenOptions { Name = "mid", Token = "secret-mid", Priority = 5, Threshold = 5 },
                new TokenOptions { Name = "low", Token = "secret-low", Priority = 1, Threshold = 2 },
                new TokenOptions { Name = "capped", Token = "secret-capped", Priority = 5, Threshold = 5, MaxInFlight = 1 },
            ],
            QueueTimeout = TimeSpan.FromSeconds(30),
            Capacity = { UseMetrics = false },
        };
        configure?.Invoke(options);
        Assert.Empty(DispatcherOptionsValidator.Validate(options));
        var host = new GrainTestHost(options, tokenStore, silos);

        // Orleans runs on the fake clock too: keep it moving while the silos start, so no start-up wait stalls.
        await host.WithMovingClockAsync(() => host._cluster.DeployAsync().WaitAsync(TimeSpan.FromSeconds(60)));
        return host;
    }

    public DispatcherOptions Options { get; }

    /// <summary>
    /// The clock of the grains and of Orleans itself. Each reading moves it one tick: Orleans waits for a due time in a loop
    /// of <c>Task.Delay(dueTime - now)</c>, and a delay under a millisecond completes at once without the clock moving, so
    /// a stopped fake clock that an advance left less than a millisecond before a due time (Orleans jitters its periods)
    /// spun that loop forever and hung the test run.
    /// </summary>
    public FakeTimeProvider Time { get; } = new() { AutoAdvanceAmount = TimeSpan.FromTicks(1) };

    /// <summary>The replicas discovery sees (shared by every silo), for models with <see cref="ModelOptions.Discovery"/>.</summary>
    public ReplicaDirectory Replicas { get; } = new();

    /// <summary>What the replicas answer to scrapes and health probes.</summary>
    public FakeReplicaProbe Probe { get; } = new();

    public IGrainFactory Grains => _cluster.Client;

    public InProcessTestCluster Cluster => _cluster;

    public IModelGrain ModelGrain => Grains.GetGrain<IModelGrain>(Model);

    public IModelGrain Other => Grains.GetGrain<IModelGrain>(OtherModel);

    public static string TokenId(string name) => TokenHash.Compute($"secret-{name}");

    public LeaseRequest Request(string token, int? priority = null, string? holder = null)
    {
        var policy = Options.Tokens.Single(t => t.Name == token);
        return new LeaseRequest($"req-{Interlocked.Increment(ref _requests)}", TokenId(token), priority ?? policy.Priority, policy.MaxInFlight, HolderId: holder);
    }

    public Task<ModelSnapshot> SnapshotAsync() => ModelGrain.GetSnapshotAsync(CancellationToken.None);

    public Task<TokenCounters> CountersAsync(string token) =>
        Grains.GetGrain<ITokenGrain>(TokenId(token)).GetCountersAsync(CancellationToken.None);

    /// <summary>
    /// Checks a token's counters, waiting a little for them: a grant reaches its caller before the token's grain has heard
    /// of it (the model grain tells it without waiting for its answer).
    /// </summary>
    public async Task AssertCountersAsync(string token, int? waiting = null, int? inFlight = null)
    {
        TokenCounters? counters = null;
        await Eventually.TrueAsync(async () =>
        {
            counters = await CountersAsync(token);
            return (waiting is null || counters.Waiting == waiting) && (inFlight is null || counters.InFlight == inFlight);
        }, () => $"{token}: expected waiting={waiting?.ToString() ?? "any"} inFlight={inFlight?.ToString() ?? "any"}, has {counters}");
    }

    /// <summary>Starts a lease request and returns once it is in the wait list (or answered).</summary>
    public async Task<Task<LeaseGrant>> EnqueueAsync(string token, string? holder = null, CancellationToken cancellationToken = default) =>
        await EnqueueAsync(Request(token, holder: holder), cancellationToken);

    /// <summary>Starts a lease request and returns once it is in the wait list (or answered).</summary>
    public async Task<Task<LeaseGrant>> EnqueueAsync(LeaseRequest request, CancellationToken cancellationToken = default)
    {
        var token = request.TokenId;
        var before = (await SnapshotAsync()).Waiting;
        var pending = ModelGrain.AcquireAsync(request, cancellationToken);
        await Eventually.TrueAsync(async () => pending.IsCompleted || (await SnapshotAsync()).Waiting > before,
            () => $"request of {token} never reached the wait list");
        return pending;
    }

    /// <summary>Releases a lease of <see cref="Model"/> and returns once the grain has taken it back.</summary>
    public Task ReleaseAsync(LeaseGrant grant, LeaseEndReason reason = LeaseEndReason.Completed, LeaseUsage? usage = null) =>
        ReleaseAsync(ModelGrain, new LeaseRelease(grant.LeaseId!, reason, 200, usage));

    /// <summary>
    /// Releases a lease and returns once <paramref name="model"/> no longer holds it: the release is one-way, so a later
    /// call could overtake it.
    /// </summary>
    public static async Task ReleaseAsync(IModelGrain model, LeaseRelease release)
    {
        await model.ReleaseAsync(release, CancellationToken.None);
        await Eventually.TrueAsync(
            async () => (await model.FindLeasesAsync([release.LeaseId], CancellationToken.None)).Count == 0,
            () => $"lease {release.LeaseId} was not released");
    }

    /// <summary>
    /// Checks that nothing is waiting or in flight anywhere: no lease leaked. Waits a little for it, since a caller's
    /// cancellation reaches the grain a moment after the caller saw it.
    /// </summary>
    public async Task AssertNothingHeldAsync()
    {
        var state = "";
        await Eventually.TrueAsync(async () =>
        {
            var snapshot = await SnapshotAsync();
            state = $"model waiting={snapshot.Waiting} inFlight={snapshot.InFlight}, replicas {string.Join(",", snapshot.Backends.Select(b => b.LeasesInFlight))}";
            var clean = snapshot.Waiting == 0 && snapshot.InFlight == 0 && snapshot.Backends.All(b => b.LeasesInFlight == 0);
            foreach (var token in Options.Tokens)
            {
                var counters = await CountersAsync(token.Name);
                state += $"; {token.Name} waiting={counters.Waiting} inFlight={counters.InFlight}";
                clean &= counters.Waiting == 0 && counters.InFlight == 0;
            }

            return clean;
        }, () => $"something is still held: {state}");
    }

    public async ValueTask DisposeAsync()
    {
        // Bounded: a silo stuck in shutdown must not hold the test run (its failure shows in the test's own asserts).
        await WithMovingClockAsync(() => _cluster.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(30)).ContinueWith(static _ => { }, TaskScheduler.Default));
    }

    /// <summary>Runs <paramref name="work"/> while the fake clock moves 200 ms every 10 ms (start-up and shutdown only).</summary>
    private async Task WithMovingClockAsync(Func<Task> work)
    {
        using var stopped = new CancellationTokenSource();
        var clock = Task.Run(async () =>
        {
            while (!stopped.IsCancellationRequested)
            {
                Time.Advance(TimeSpan.FromMilliseconds(200));
                await Task.Delay(10, CancellationToken.None);
            }
        }, CancellationToken.None);
        try
        {
            await work();
        }
        finally
        {
            await stopped.CancelAsync();
            await clock;
        }
    }
}
