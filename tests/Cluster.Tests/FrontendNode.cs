using Dispatcher.Frontend;
using Dispatcher.Testing;

namespace Dispatcher.Cluster.Tests;

/// <summary>A Frontend in this process calling remote silos (<c>Dispatcher:Silo:Addresses</c>).</summary>
internal sealed class FrontendNode : IAsyncDisposable
{
    private readonly WebApplication _app;

    private FrontendNode(WebApplication app, CapturedLogs logs)
    {
        _app = app;
        Logs = logs;
        Address = app.Urls.First();
    }

    public string Address { get; }

    public CapturedLogs Logs { get; }

    public IServiceProvider Services => _app.Services;

    public static async Task<FrontendNode> StartAsync(IEnumerable<string> silos, IDictionary<string, string?> settings)
    {
        var config = new Dictionary<string, string?>(settings) { ["urls"] = "http://127.0.0.1:0" };
        var i = 0;
        foreach (var silo in silos)
        {
            config[$"Dispatcher:Silo:Addresses:{i++}"] = silo;
        }

        var builder = WebApplication.CreateBuilder();
        builder.Configuration.AddInMemoryCollection(config);
        var logs = new CapturedLogs();
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(LogLevel.Debug);
        builder.Logging.AddProvider(logs);
        builder.AddDispatcherFrontend();
        var app = builder.Build();
        app.MapDispatcherFrontend();
        await app.StartAsync();
        return new FrontendNode(app, logs);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
