using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using Dispatcher.Grains.Abstractions.Models;
using Dispatcher.Grains.Abstractions.Tokens;
using Dispatcher.Testing;
using Dispatcher.Silo;
using Dispatcher.Silo.Tokens;
using Dispatcher.VllmEmulator;
using Npgsql;

namespace Dispatcher.Frontend.Tests;

/// <summary>
/// A real dispatcher on a loopback Kestrel port in front of emulated vLLM replicas on their own ports,
/// configured the way an operator would. Two tokens: "high" (priority 10) and "low" (priority 1).
/// </summary>
internal sealed class DispatcherHost : IAsyncDisposable
{
    public const string Model = "test-model";
    public const string HighToken = "sk-test-high-0123456789";
    public const string LowToken = "sk-test-low-9876543210";

    /// <summary>The Service whose endpoints are the replicas when they are discovered.</summary>
    public const string DiscoveredService = "vllm-test";

    private readonly WebApplication _app;
    private readonly WebApplication? _silo;
    private readonly List<HttpClient> _clients = [];

    private DispatcherHost(WebApplication app, WebApplication? silo, List<EmulatorServer> replicas, CapturedLogs logs)
    {
        _app = app;
        _silo = silo;
        Replicas = replicas;
        Logs = logs;
        BaseAddress = new Uri(app.Urls.First());
    }

    public Uri BaseAddress { get; }

    public List<EmulatorServer> Replicas { get; }

    public CapturedLogs Logs { get; }

    /// <summary>Every token secret this host has seen; none may ever reach its logs (checked at dispose).</summary>
    public List<string> Secrets { get; } = [HighToken, LowToken];

    public IGrainFactory Grains => _app.Services.GetRequiredService<IGrainFactory>();

    /// <summary>Starts replicas and a dispatcher in front of them.</summary>
    /// <param name="replicas">How many emulated replicas.</param>
    /// <param name="capacity">Leases per replica.</param>
    /// <param name="emulator">Adjusts every replica's options.</param>
    /// <param name="settings">More configuration, e.g. <c>Dispatcher:QueueTimeout</c>.</param>
    /// <param name="extraBackends">Backends listed after the replicas (e.g. a closed port).</param>
    /// <param name="kubernetesApi">
    /// Find the replicas as the ready endpoints of Service <see cref="DiscoveredService"/> at this (fake) Kubernetes API
    /// server instead of listing them; the test publishes their EndpointSlices.
    /// </param>
    /// <param name="asClient">
    /// Run the Frontend as an Orleans client of a silo (<c>Dispatcher.Silo serve</c>, hosted in this process) on a private
    /// PostgreSQL database holding the tokens, instead of co-hosting its silo (the embedded default).
    /// </param>
    public static async Task<DispatcherHost> StartAsync(
        int replicas = 1,
        int capacity = 4,
        Action<EmulatorOptions>? emulator = null,
        Dictionary<string, string?>? settings = null,
        IEnumerable<string>? extraBackends = null,
        string? kubernetesApi = null,
        bool asClient = false)
    {
        var servers = new List<EmulatorServer>();
        for (var i = 0; i < replicas; i++)
        {
            var options = new EmulatorOptions { ModelName = Model, StepBase = TimeSpan.FromMilliseconds(2), StepPerRunning = TimeSpan.Zero, DefaultCompletionTokens = 8 };
            emulator?.Invoke(options);
            servers.Add(await EmulatorServer.StartAsync(options));
        }

        var config = new Dictionary<string, string?>
        {
            ["urls"] = "http://127.0.0.1:0",
            ["Logging:LogLevel:Default"] = "Debug", // every line is captured and checked for secrets
            ["Logging:LogLevel:Orleans"] = "Warning",
            ["Dispatcher:Cluster:SiloPort"] = FreePort.Next().ToString(CultureInfo.InvariantCulture), // hosts run side by side
            ["Dispatcher:Cluster:GatewayPort"] = FreePort.Next().ToString(CultureInfo.InvariantCulture),
            ["Dispatcher:Models:0:Name"] = Model,
            ["Dispatcher:Models:0:MaxConcurrentLeasesPerBackend"] = capacity.ToString(CultureInfo.InvariantCulture),
            ["Dispatcher:Capacity:ScrapeInterval"] = "00:00:00.200",
            ["Dispatcher:Tokens:0:Name"] = "high",
            ["Dispatcher:Tokens:0:Token"] = HighToken,
            ["Dispatcher:Tokens:0:Priority"] = "10",
            ["Dispatcher:Tokens:0:Threshold"] = "10",
            ["Dispatcher:Tokens:1:Name"] = "low",
            ["Dispatcher:Tokens:1:Token"] = LowToken,
            ["Dispatcher:Tokens:1:Priority"] = "1",
            ["Dispatcher:Tokens:1:Threshold"] = "2",
        };
        if (kubernetesApi is not null)
        {
            config["Dispatcher:Models:0:Discovery:Service"] = DiscoveredService;
            config["Dispatcher:Kubernetes:ApiServer"] = kubernetesApi;
            config["Dispatcher:Kubernetes:Namespace"] = FakeKubernetesApi.Namespace;
        }

        var backends = kubernetesApi is not null ? [] : servers.Select(s => s.BaseAddress.AbsoluteUri).Concat(extraBackends ?? []).ToList();
        for (var i = 0; i < backends.Count; i++)
        {
            config[$"Dispatcher:Models:0:Backends:{i}"] = backends[i];
        }

        foreach (var (key, value) in settings ?? [])
        {
            config[key] = value;
        }

        var silo = asClient ? await StartSiloAsync(config) : null;
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
        return new DispatcherHost(app, silo, servers, logs);
    }

    /// <summary>
    /// Starts a silo on a new database with <paramref name="config"/>'s tokens put there, and points
    /// <paramref name="config"/> (the Frontend's) at it as a client.
    /// </summary>
    private static async Task<WebApplication> StartSiloAsync(Dictionary<string, string?> config)
    {
        var database = await (await PostgresServer.SharedAsync()).CreateDatabaseAsync();
        config["ConnectionStrings:Postgres"] = database;
        config["Dispatcher:Cluster:SiloPort"] = FreePort.Next().ToString(CultureInfo.InvariantCulture);
        config["Dispatcher:Cluster:GatewayPort"] = FreePort.Next().ToString(CultureInfo.InvariantCulture);
        config["Dispatcher:Cluster:AdvertisedAddress"] = "127.0.0.1";
        await SiloHost.MigrateAsync(new ConfigurationBuilder().AddInMemoryCollection(config).Build(), CancellationToken.None);
        await using (var dataSource = NpgsqlDataSource.Create(database))
        {
            var tokens = new TokenAdmin(dataSource);
            for (var i = 0; config.ContainsKey($"Dispatcher:Tokens:{i}:Token"); i++)
            {
                string? Token(string key) => config.GetValueOrDefault($"Dispatcher:Tokens:{i}:{key}");
                await tokens.PutAsync(Token("Name")!, Token("Token")!, int.Parse(Token("Priority")!, CultureInfo.InvariantCulture),
                    int.Parse(Token("Threshold")!, CultureInfo.InvariantCulture),
                    Token("MaxInFlight") is { } limit ? int.Parse(limit, CultureInfo.InvariantCulture) : null, CancellationToken.None);
            }
        }

        var silo = SiloHost.Build(["--urls", "http://127.0.0.1:0"], builder =>
        {
            builder.Configuration.AddInMemoryCollection(config.Where(p => p.Key != "urls"));
            builder.Logging.ClearProviders();
        });
        await silo.StartAsync();
        config["Dispatcher:Cluster:Mode"] = "Client";
        return silo;
    }

    public HttpClient CreateClient(string? token = HighToken)
    {
        var client = new HttpClient { BaseAddress = BaseAddress, Timeout = Eventually.Limit };
        if (token is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        _clients.Add(client);
        return client;
    }

    public static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    public static string Chat(bool stream = false, int? maxTokens = null, string model = Model, string extra = "")
    {
        var max = maxTokens is { } m ? $",\"max_tokens\":{m}" : "";
        return $"{{\"model\":\"{model}\",\"messages\":[{{\"role\":\"user\",\"content\":\"Hello\"}}],\"stream\":{(stream ? "true" : "false")}{max}{extra}}}";
    }

    /// <summary>Sends <paramref name="request"/> as written, in one write, and returns everything the server answers.</summary>
    public static async Task<string> SendRawAsync(Uri server, string request)
    {
        using var client = new System.Net.Sockets.TcpClient();
        await client.ConnectAsync(server.Host, server.Port);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.UTF8.GetBytes(request));
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return await reader.ReadToEndAsync().WaitAsync(Eventually.Limit);
    }

    public Task<ModelSnapshot> SnapshotAsync() => Grains.GetGrain<IModelGrain>(Model).GetSnapshotAsync(CancellationToken.None);

    public Task<TokenCounters> CountersAsync(string token) =>
        Grains.GetGrain<ITokenGrain>(TokenHash.Compute(token)).GetCountersAsync(CancellationToken.None);

    /// <summary>Waits until no request waits or runs anywhere: no lease and no counter leaked.</summary>
    public async Task AssertDrainedAsync()
    {
        await Eventually.TrueAsync(async () =>
        {
            var snapshot = await SnapshotAsync();
            var high = await CountersAsync(HighToken);
            var low = await CountersAsync(LowToken);
            return snapshot.Waiting == 0 && snapshot.InFlight == 0 && high.Waiting == 0 && high.InFlight == 0 && low.Waiting == 0 && low.InFlight == 0;
        }, () => $"dispatcher not drained: {SnapshotAsync().Result}, high {CountersAsync(HighToken).Result}, low {CountersAsync(LowToken).Result}");
    }

    /// <summary>Checks that no token secret reached the logs.</summary>
    public void AssertNoSecretLogged()
    {
        Assert.NotEmpty(Logs.Lines);
        var leaked = Logs.Lines.Where(l => Secrets.Exists(s => l.Contains(s, StringComparison.Ordinal))).ToList();
        Assert.True(leaked.Count == 0, $"token secret logged: {string.Join(Environment.NewLine, leaked)}");
    }

    public async ValueTask DisposeAsync()
    {
        AssertNoSecretLogged(); // every end-to-end test checks everything its dispatcher logged
        _clients.ForEach(c => c.Dispose());
        await _app.StopAsync();
        await _app.DisposeAsync();
        if (_silo is not null)
        {
            await _silo.StopAsync();
            await _silo.DisposeAsync();
        }

        foreach (var replica in Replicas)
        {
            await replica.DisposeAsync();
        }
    }
}
