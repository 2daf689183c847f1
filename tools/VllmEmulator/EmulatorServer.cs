namespace Dispatcher.VllmEmulator;

/// <summary>
/// One emulated vLLM replica on its own Kestrel server. Tests, the demo and benchmarks start as many as they
/// need on loopback with <see cref="StartAsync"/> and reach its engine and faults directly.
/// </summary>
public sealed class EmulatorServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private EmulatorServer(WebApplication app, EmulatorOptions options, TimeProvider time)
    {
        _app = app;
        Options = options;
        Time = time;
        Engine = new EmulatorEngine(options, time);
    }

    public EmulatorOptions Options { get; }

    public TimeProvider Time { get; }

    /// <summary>The emulated GPU: its counters tell what the replica saw.</summary>
    public EmulatorEngine Engine { get; }

    /// <summary>Failures to inject into the next requests.</summary>
    public FaultInjector Faults { get; } = new();

    /// <summary>The body of the last generation or embedding request received, as sent.</summary>
    public string? LastRequestBody { get; internal set; }

    /// <summary>The address the replica listens on, e.g. <c>http://127.0.0.1:41234</c>.</summary>
    public Uri BaseAddress { get; private set; } = null!;

    /// <summary>Starts a replica listening on <paramref name="url"/> (port 0 picks a free port).</summary>
    public static async Task<EmulatorServer> StartAsync(EmulatorOptions options, string url = "http://127.0.0.1:0", CancellationToken cancellationToken = default)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls(url);
        var app = builder.Build();
        var server = new EmulatorServer(app, options, TimeProvider.System);
        EmulatorApi.Map(app, server);
        await app.StartAsync(cancellationToken);
        var address = app.Urls.First();
        server.BaseAddress = new Uri(address.Replace("[::]", "127.0.0.1", StringComparison.Ordinal), UriKind.Absolute);
        return server;
    }

    /// <summary>Stops the replica: like a killed vLLM, it refuses connections afterwards.</summary>
    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        Engine.Dispose();
    }
}
