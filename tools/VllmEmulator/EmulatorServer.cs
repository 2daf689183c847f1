namespace Dispatcher.VllmEmulator;

/// <summary>
/// One emulated vLLM replica on its own Kestrel server. Tests, the demo and benchmarks start as many as they
/// need on loopback with <see cref="StartAsync"/> and reach its engine and faults directly. It can be
/// stopped (connections are refused, like a crashed vLLM) and restarted on the same port with its counters
/// reset (like a restarted one).
/// </summary>
public sealed class EmulatorServer : IAsyncDisposable
{
    private WebApplication? _app;

    private EmulatorServer(EmulatorOptions options, TimeProvider time)
    {
        Options = options;
        Time = time;
        Engine = new EmulatorEngine(options, time);
    }

    public EmulatorOptions Options { get; }

    public TimeProvider Time { get; }

    /// <summary>The emulated GPU: its counters tell what the replica saw since it last started.</summary>
    public EmulatorEngine Engine { get; private set; }

    /// <summary>Failures to inject into the next requests.</summary>
    public FaultInjector Faults { get; } = new();

    /// <summary>Every request received, as "METHOD /path?query", in order (scrapes and probes included).</summary>
    public System.Collections.Concurrent.ConcurrentQueue<string> Requests { get; } = new();

    /// <summary>The body of the last generation or embedding request received, as sent.</summary>
    public string? LastRequestBody { get; internal set; }

    /// <summary>The <c>X-Request-Id</c> of every generation or embedding request received (empty when it had none), in order.</summary>
    public System.Collections.Concurrent.ConcurrentQueue<string> RequestIds { get; } = new();

    /// <summary>The <c>X-Request-Id</c> of the last generation or embedding request, if it had one.</summary>
    public string? LastRequestId { get; internal set; }

    /// <summary>The address the replica listens on, e.g. <c>http://127.0.0.1:41234/</c>.</summary>
    public Uri BaseAddress { get; private set; } = null!;

    /// <summary>True while it accepts connections.</summary>
    public bool IsRunning => _app is not null;

    /// <summary>Starts a replica listening on <paramref name="url"/> (port 0 picks a free port).</summary>
    public static async Task<EmulatorServer> StartAsync(EmulatorOptions options, string url = "http://127.0.0.1:0", CancellationToken cancellationToken = default)
    {
        var server = new EmulatorServer(options, TimeProvider.System);
        await server.ListenAsync(url, cancellationToken);
        return server;
    }

    /// <summary>Stops listening at once: running requests are cut and new connections refused.</summary>
    public async Task StopAsync()
    {
        if (_app is { } app)
        {
            _app = null;
            await app.StopAsync(new CancellationToken(canceled: true));
            await app.DisposeAsync();
        }
    }

    /// <summary>Listens again on the same address with a fresh engine: counters start from zero.</summary>
    public async Task RestartAsync(CancellationToken cancellationToken = default)
    {
        await StopAsync();
        Engine.Dispose();
        Engine = new EmulatorEngine(Options, Time);
        await ListenAsync(BaseAddress.AbsoluteUri, cancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        Engine.Dispose();
    }

    private async Task ListenAsync(string url, CancellationToken cancellationToken)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls(url);
        var app = builder.Build();
        EmulatorApi.Map(app, this);
        await app.StartAsync(cancellationToken);
        BaseAddress = new Uri(app.Urls.First().Replace("[::]", "127.0.0.1", StringComparison.Ordinal), UriKind.Absolute);
        _app = app;
    }
}
