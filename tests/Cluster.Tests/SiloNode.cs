using Dispatcher.Silo;
using Dispatcher.Silo.Activation;
using Dispatcher.Silo.Cluster;
using Dispatcher.Testing;

namespace Dispatcher.Cluster.Tests;

/// <summary>A silo (<see cref="SiloHost"/>) in this process, on its own loopback ports, optionally in a cluster.</summary>
internal sealed class SiloNode : IAsyncDisposable
{
    private readonly WebApplication _app;
    private bool _stopped;

    private SiloNode(WebApplication app, string siloId, string address, string management, CapturedLogs logs)
    {
        _app = app;
        SiloId = siloId;
        Address = address;
        Management = management;
        Logs = logs;
    }

    public string SiloId { get; }

    /// <summary>The internal endpoint (HTTP/2).</summary>
    public string Address { get; }

    /// <summary>Health, metrics, dashboard (HTTP/1.1).</summary>
    public string Management { get; }

    public CapturedLogs Logs { get; }

    public IServiceProvider Services => _app.Services;

    public static async Task<SiloNode> StartAsync(string siloId, string? postgres, IDictionary<string, string?> settings)
    {
        var address = $"http://127.0.0.1:{FreePort.Next()}";
        var management = $"http://127.0.0.1:{FreePort.Next()}";
        var config = new Dictionary<string, string?>(settings)
        {
            ["Dispatcher:Cluster:SiloId"] = siloId,
            ["Dispatcher:Cluster:InternalUrl"] = address,
            ["Dispatcher:Cluster:ManagementUrl"] = management,
            ["Dispatcher:Cluster:AdvertisedAddress"] = address,
            ["ConnectionStrings:Postgres"] = postgres,
        };
        var logs = new CapturedLogs();
        var app = SiloHost.Build([], builder =>
        {
            builder.Configuration.AddInMemoryCollection(config);
            builder.Logging.ClearProviders();
            builder.Logging.SetMinimumLevel(LogLevel.Debug);
            builder.Logging.AddProvider(logs);
        });
        await app.StartAsync();
        return new SiloNode(app, siloId, address, management, logs);
    }

    /// <summary>True while this silo hosts the model.</summary>
    public bool Hosts(string model) => Services.GetRequiredService<IModelPlacement>().IsLocal(model);

    /// <summary>True while the model's grain is active in this silo.</summary>
    public bool HasActivation(string model) => Services.GetRequiredService<LocalSilo>().IsActive<Grains.Abstractions.Models.IModelGrain>(model);

    /// <summary>A graceful stop: the silo hands its models over before it exits.</summary>
    public async Task StopAsync()
    {
        if (!_stopped)
        {
            _stopped = true;
            await _app.StopAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        await _app.DisposeAsync();
    }
}
