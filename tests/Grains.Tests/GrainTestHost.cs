using Dispatcher.Grains.Abstractions;
using Dispatcher.Grains.Abstractions.Configuration;
using Dispatcher.Grains.Abstractions.Leases;
using Dispatcher.Grains.Abstractions.Models;
using Dispatcher.Grains.Abstractions.Tokens;
using Dispatcher.Grains.Backends;
using Dispatcher.Grains.Tests.Backends;
using Dispatcher.Grains.Tokens;
using Dispatcher.Silo.Activation;
using Dispatcher.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Dispatcher.Grains.Tests;

/// <summary>The real grains on the real in-process silo, with a fake clock and no sockets.</summary>
internal sealed class GrainTestHost : IAsyncDisposable
{
    public const string Model = "test-model";
    public const string OtherModel = "other-model";

    private readonly ServiceProvider _services;
    private int _requests;

    public GrainTestHost(int backends = 1, int capacity = 1, Action<DispatcherOptions>? configure = null, ITokenStore? tokenStore = null)
    {
        Options = new DispatcherOptions
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
        configure?.Invoke(Options);
        Assert.Empty(DispatcherOptionsValidator.Validate(Options));

        var services = new ServiceCollection();
        services.AddLogging();
        services.AddMetrics();
        services.AddSingleton<TimeProvider>(Time);
        services.AddSingleton(Microsoft.Extensions.Options.Options.Create(Options));
        services.AddSingleton<IReplicaProbe>(Probe);
        if (tokenStore is not null)
        {
            services.AddSingleton(tokenStore);
        }

        services.AddDispatcherGrains();
        services.AddSingleton<IActivationGate, OpenActivationGate>();
        services.AddSingleton<LocalSilo>();
        services.AddSingleton<IGrainFactory>(sp => sp.GetRequiredService<LocalSilo>());
        _services = services.BuildServiceProvider();
        Silo = _services.GetRequiredService<LocalSilo>();
    }

    public DispatcherOptions Options { get; }

    public FakeTimeProvider Time { get; } = new();

    /// <summary>What the replicas answer to scrapes and health probes.</summary>
    public FakeReplicaProbe Probe { get; } = new();

    public LocalSilo Silo { get; }

    public IGrainFactory Grains => Silo;

    public IModelGrain ModelGrain => Grains.GetGrain<IModelGrain>(Model);

    public IModelGrain Other => Grains.GetGrain<IModelGrain>(OtherModel);

    public InFlightLedger Ledger => _services.GetRequiredService<InFlightLedger>();

    public static string TokenId(string name) => TokenHash.Compute($"secret-{name}");

    public LeaseRequest Request(string token, int? priority = null)
    {
        var policy = Options.Tokens.Single(t => t.Name == token);
        return new LeaseRequest($"req-{Interlocked.Increment(ref _requests)}", TokenId(token), priority ?? policy.Priority, policy.MaxInFlight);
    }

    public Task<ModelSnapshot> SnapshotAsync() => ModelGrain.GetSnapshotAsync(CancellationToken.None);

    public Task<TokenCounters> CountersAsync(string token) =>
        Grains.GetGrain<ITokenGrain>(TokenId(token)).GetCountersAsync(CancellationToken.None);

    /// <summary>Starts a lease request and returns once it is in the wait list (or answered).</summary>
    public async Task<Task<LeaseGrant>> EnqueueAsync(string token, CancellationToken cancellationToken = default)
    {
        var before = (await SnapshotAsync()).Waiting;
        var pending = ModelGrain.AcquireAsync(Request(token), cancellationToken);
        await Eventually.TrueAsync(async () => pending.IsCompleted || (await SnapshotAsync()).Waiting > before,
            () => $"request of {token} never reached the wait list");
        return pending;
    }

    public Task ReleaseAsync(LeaseGrant grant, LeaseEndReason reason = LeaseEndReason.Completed, LeaseUsage? usage = null) =>
        ModelGrain.ReleaseAsync(new LeaseRelease(grant.LeaseId!, reason, 200, usage), CancellationToken.None);

    /// <summary>Checks that nothing is waiting or in flight anywhere: no lease leaked.</summary>
    public async Task AssertNothingHeldAsync()
    {
        var snapshot = await SnapshotAsync();
        Assert.True(snapshot.Waiting == 0 && snapshot.InFlight == 0, $"model still holds waiting={snapshot.Waiting} inFlight={snapshot.InFlight}");
        Assert.All(snapshot.Backends, b => Assert.Equal(0, b.LeasesInFlight));
        foreach (var token in Options.Tokens)
        {
            var counters = await CountersAsync(token.Name);
            Assert.True(counters.Waiting == 0 && counters.InFlight == 0, $"token {token.Name} still counts waiting={counters.Waiting} inFlight={counters.InFlight}");
            Assert.Equal(0, Ledger.InFlight(TokenId(token.Name)));
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Silo.DisposeAsync();
        await _services.DisposeAsync();
    }
}
