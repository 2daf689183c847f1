using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Dispatcher.Silo.Database;
using Dispatcher.Silo.Tokens;
using Dispatcher.Testing;
using Dispatcher.VllmEmulator;
using Npgsql;

namespace Dispatcher.Cluster.Tests;

/// <summary>
/// A whole dispatcher on loopback as real processes: silos (<c>Dispatcher.Silo serve</c>) and Frontends in client mode
/// on a private PostgreSQL database, in front of emulated replicas (two, four leases each), with one token.
/// </summary>
internal sealed class Fleet : IAsyncDisposable
{
    public const string Model = "cluster-model";
    public const string Token = "sk-cluster-test-0123456789";

    private readonly string[] _shared;
    private int _abandoned;

    private Fleet(List<EmulatorServer> replicas, string[] shared, string database)
    {
        Replicas = replicas;
        _shared = shared;
        Database = database;
    }

    /// <summary>The connection string of the fleet's database (membership and tokens).</summary>
    public string Database { get; }

    public List<EmulatorServer> Replicas { get; }

    public List<Silo> Silos { get; } = [];

    public List<Frontend> Frontends { get; } = [];

    /// <summary>Every answer clients got: "ok" or the status and body.</summary>
    public ConcurrentBag<string> Statuses { get; } = [];

    /// <param name="silos">Silo processes to start.</param>
    /// <param name="frontends">Frontend processes to start (clients of the silos).</param>
    /// <param name="frontendSettings">More command-line settings for the Frontends.</param>
    public static async Task<Fleet> StartAsync(int silos, int frontends, params string[] frontendSettings) =>
        await StartAsync(await PostgresServer.SharedAsync(), silos, frontends, [], frontendSettings); // CI's server, or a private one stopped at exit

    /// <summary>A fleet whose every process (silos and Frontends) also gets <paramref name="everyProcess"/>.</summary>
    public static async Task<Fleet> StartAsync(int silos, int frontends, string[] everyProcess, string[] frontendSettings) =>
        await StartAsync(await PostgresServer.SharedAsync(), silos, frontends, everyProcess, frontendSettings);

    /// <summary>
    /// A fleet whose membership and tokens are in <paramref name="postgres"/> (a private server a test may stop); every
    /// process also gets <paramref name="everyProcess"/>.
    /// </summary>
    public static async Task<Fleet> StartAsync(PostgresServer postgres, int silos, int frontends, params string[] everyProcess) =>
        await StartAsync(postgres, silos, frontends, everyProcess, []);

    private static async Task<Fleet> StartAsync(PostgresServer postgres, int silos, int frontends, string[] everyProcess, string[] frontendSettings)
    {
        var database = await postgres.CreateDatabaseAsync();
        await using (var dataSource = NpgsqlDataSource.Create(database))
        {
            await PostgresMigrator.MigrateAsync(dataSource, CancellationToken.None);
            await new TokenAdmin(dataSource).PutAsync("cluster-test", Token, 5, 1000, null, CancellationToken.None);
        }

        var replicas = new List<EmulatorServer>();
        for (var i = 0; i < 2; i++)
        {
            replicas.Add(await EmulatorServer.StartAsync(new EmulatorOptions
            {
                ModelName = Model,
                StepBase = TimeSpan.FromMilliseconds(25),
                StepPerRunning = TimeSpan.Zero,
                DefaultCompletionTokens = 8,
            }));
        }

        string[] shared =
        [
            $"--ConnectionStrings:Postgres={database}", "--Logging:LogLevel:Default=Warning", "--Logging:LogLevel:Orleans=Warning",
            "--Logging:LogLevel:Dispatcher.Frontend=Debug", "--Logging:LogLevel:Dispatcher.Grains=Information", "--Logging:Console:TimestampFormat=HH:mm:ss.fff ", "--Logging:LogLevel:Orleans.Messaging=Information", "--Dispatcher:Dashboard:Open=true",
            $"--Dispatcher:Models:0:Name={Model}", $"--Dispatcher:Models:0:Backends:0={replicas[0].BaseAddress}", $"--Dispatcher:Models:0:Backends:1={replicas[1].BaseAddress}",
            "--Dispatcher:Models:0:MaxConcurrentLeasesPerBackend=4", "--Dispatcher:Capacity:UseMetrics=false", .. everyProcess,
        ];
        var fleet = new Fleet(replicas, shared, database);
        for (var i = 0; i < silos; i++)
        {
            await fleet.StartSiloAsync();
        }

        for (var i = 0; i < frontends; i++)
        {
            var address = $"http://127.0.0.1:{FreePort.Next()}";
            var process = ChildProcess.Start($"frontend-{i}", "Dispatcher.Frontend.dll", ["--urls", address, "--Dispatcher:Cluster:Mode=Client", .. shared, .. frontendSettings]);
            fleet.Frontends.Add(new Frontend(process, address));
            await process.WaitReadyAsync($"{address}/health/ready", TimeSpan.FromSeconds(60));
        }

        return fleet;
    }

    /// <summary>Starts one more silo and waits until it is ready.</summary>
    public async Task<Silo> StartSiloAsync()
    {
        var (siloPort, management) = (FreePort.Next(), $"http://127.0.0.1:{FreePort.Next()}");
        var process = ChildProcess.Start($"silo-{Silos.Count}", "Dispatcher.Silo.dll",
            ["serve", "--urls", management, $"--Dispatcher:Cluster:SiloPort={siloPort}", $"--Dispatcher:Cluster:GatewayPort={FreePort.Next()}",
             "--Dispatcher:Cluster:AdvertisedAddress=127.0.0.1", .. _shared]);
        var silo = new Silo(process, $"127.0.0.1:{siloPort}", management);
        Silos.Add(silo);
        await process.WaitReadyAsync($"{management}/health/ready", TimeSpan.FromSeconds(60));
        return silo;
    }

    /// <summary>Clients sending streamed chat completions one after the other until <paramref name="stop"/>.</summary>
    public List<Task> Load(int clients, CancellationToken stop, Func<int, Frontend>? frontendOf = null) =>
        [.. Enumerable.Range(0, clients).Select(c => Task.Run(async () =>
        {
            using var http = new HttpClient { BaseAddress = new Uri((frontendOf ?? (i => Frontends[i % Frontends.Count]))(c).Address), Timeout = TimeSpan.FromSeconds(60) };
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);
            while (!stop.IsCancellationRequested)
            {
                using var content = new StringContent($"{{\"model\":\"{Model}\",\"messages\":[{{\"role\":\"user\",\"content\":\"Hello\"}}],\"max_tokens\":8,\"stream\":true}}", Encoding.UTF8, "application/json");
                using var response = await http.PostAsync("/v1/chat/completions", content, CancellationToken.None);
                var body = await response.Content.ReadAsStringAsync(CancellationToken.None);
                Statuses.Add(response.StatusCode == HttpStatusCode.OK && body.Contains("[DONE]", StringComparison.Ordinal) ? "ok" : $"{(int)response.StatusCode} {body}");
            }
        }, CancellationToken.None))];

    /// <summary>
    /// Clients in the way of the load until <paramref name="stop"/>: one sends bad requests (malformed JSON, an unknown
    /// model; not bad tokens, whose failed-authentication limit would block every client of this one loopback address) and adds to <see cref="NoiseErrors"/> any that did not get its error in the OpenAI shape; the
    /// other starts streams and goes away after 0-300 ms (counted in <see cref="Abandoned"/>: each may or may not have
    /// reached a replica). Both go through <paramref name="through"/> when given, otherwise through the first and the second
    /// Frontend.
    /// </summary>
    public List<Task> Noise(CancellationToken stop, Frontend? through = null) =>
    [
        Task.Run(async () =>
        {
            using var http = new HttpClient { BaseAddress = new Uri((through ?? Frontends[0]).Address), Timeout = TimeSpan.FromSeconds(30) };
            (string Body, HttpStatusCode Status, string Code)[] bad =
            [
                ("{\"model\":", HttpStatusCode.BadRequest, "invalid_json"),
                ($"{{\"model\":\"no-such-model\",\"messages\":[]}}", HttpStatusCode.NotFound, "model_not_found"),
            ];
            for (var i = 0; !stop.IsCancellationRequested; i++)
            {
                var (body, status, code) = bad[i % bad.Length];
                using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Token);
                using var response = await http.SendAsync(request, CancellationToken.None);
                var answer = await response.Content.ReadAsStringAsync(CancellationToken.None);
                if (response.StatusCode != status || !answer.Contains($"\"code\":\"{code}\"", StringComparison.Ordinal))
                {
                    NoiseErrors.Add($"{body} -> {(int)response.StatusCode} {answer}");
                }

                await Task.Delay(50, CancellationToken.None);
            }
        }, CancellationToken.None),
        Task.Run(async () =>
        {
            var random = new Random(17);
            while (!stop.IsCancellationRequested)
            {
                using var cut = new CancellationTokenSource(TimeSpan.FromMilliseconds(random.Next(300)));
                var outcome = await StreamAsync(through ?? Frontends[1 % Frontends.Count], 200, cut.Token);
                if (outcome == "gone")
                {
                    Interlocked.Increment(ref _abandoned);
                }
                else
                {
                    Statuses.Add(outcome); // it finished before its client left: served like any other
                }
            }
        }, CancellationToken.None),
    ];

    /// <summary>Bad requests of <see cref="Noise"/> that did not get the error they should have.</summary>
    public ConcurrentBag<string> NoiseErrors { get; } = [];

    /// <summary>Streams of <see cref="Noise"/> whose client went away before they ended.</summary>
    public int Abandoned => _abandoned;

    /// <summary>Every bad request of <see cref="Noise"/> got its error, and some of its streams were abandoned.</summary>
    public void AssertNoiseAnswered()
    {
        Assert.True(NoiseErrors.IsEmpty, string.Join(" | ", NoiseErrors.Take(5)));
        Assert.True(Abandoned > 5, $"only {Abandoned} streams were abandoned by their clients");
    }

    /// <summary>
    /// One streamed chat completion through <paramref name="frontend"/>: "ok", the status and body of an answer that was
    /// not a complete stream, or "gone" when the connection broke or <paramref name="cut"/> ended it.
    /// </summary>
    public Task<string> StreamAsync(Frontend frontend, int maxTokens, CancellationToken cut) => Task.Run(async () =>
    {
        using var http = new HttpClient { BaseAddress = new Uri(frontend.Address), Timeout = TimeSpan.FromSeconds(60) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);
        using var content = new StringContent($"{{\"model\":\"{Model}\",\"messages\":[{{\"role\":\"user\",\"content\":\"Hello\"}}],\"max_tokens\":{maxTokens},\"stream\":true}}", Encoding.UTF8, "application/json");
        try
        {
            using var response = await http.PostAsync("/v1/chat/completions", content, cut);
            var body = await response.Content.ReadAsStringAsync(cut);
            return response.StatusCode == HttpStatusCode.OK && body.Contains("[DONE]", StringComparison.Ordinal) ? "ok" : $"{(int)response.StatusCode} {body}";
        }
        catch (Exception exception) when (exception is HttpRequestException or OperationCanceledException or IOException)
        {
            return "gone";
        }
    }, CancellationToken.None);

    /// <summary>Waits for the clients; a client that failed brings the Frontends' logs with it.</summary>
    public async Task WaitAsync(List<Task> clients)
    {
        try
        {
            await Task.WhenAll(clients).WaitAsync(TimeSpan.FromSeconds(90));
        }
        catch (Exception exception) when (exception is HttpRequestException or TaskCanceledException or TimeoutException or IOException)
        {
            throw new InvalidOperationException($"a client failed: {exception.Message}{Environment.NewLine}{Logs()}", exception);
        }
    }

    /// <summary>The last lines every Frontend and silo wrote, for a failure message.</summary>
    public string Logs() => string.Join(Environment.NewLine,
        Frontends.Select(f => f.Process).Concat(Silos.Select(s => s.Process)).Select(p => $"--- {p.Name}:{Environment.NewLine}{p.Output}"));

    /// <summary>The silo endpoint hosting the model's grain now, asked of <paramref name="silo"/>.</summary>
    public static async Task<string> HostOfModelAsync(Silo silo)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        using var json = JsonDocument.Parse(await http.GetStringAsync($"{silo.Management}/cluster"));
        return json.RootElement.GetProperty("models").GetProperty(Model).GetString()!;
    }

    /// <summary>
    /// Every client answer was a complete stream, and no request reached a replica twice or got lost (besides the answers
    /// counted in <see cref="Statuses"/>, <paramref name="cutByTheFault"/> streams the test cut reached a replica).
    /// </summary>
    public void AssertEveryRequestServedOnce(int cutByTheFault = 0)
    {
        var failures = Statuses.Where(s => s != "ok").ToList();
        Assert.True(failures.Count == 0, $"{failures.Count} of {Statuses.Count} requests failed: {string.Join(" | ", failures.Take(5))}{Environment.NewLine}{Logs()}");
        var ids = Replicas.SelectMany(r => r.RequestIds).ToList();
        Assert.Equal(ids.Count, ids.Distinct(StringComparer.Ordinal).Count());
        Assert.InRange(ids.Count, Statuses.Count + cutByTheFault, Statuses.Count + cutByTheFault + Abandoned); // an abandoned stream may have reached one
    }

    /// <summary>Waits until the model holds nothing: no waiter, no lease, no replica count (asked of <paramref name="silo"/>).</summary>
    public static async Task AssertNothingHeldAsync(Silo silo, TimeSpan limit)
    {
        var state = "";
        var deadline = DateTime.UtcNow + limit;
        using var http = new HttpClient();
        while (true)
        {
            state = await http.GetStringAsync($"{silo.Management}/dashboard/api/state");
            using var json = JsonDocument.Parse(state);
            var model = json.RootElement.GetProperty("models")[0];
            var clean = model.GetProperty("waiting").GetInt32() == 0 && model.GetProperty("inFlight").GetInt32() == 0
                && model.GetProperty("replicas").EnumerateArray().All(r => r.GetProperty("leases").GetInt32() == 0);
            if (clean)
            {
                return;
            }

            Assert.True(DateTime.UtcNow < deadline, $"still held after {limit}: {state}");
            await Task.Delay(200);
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var frontend in Frontends)
        {
            await frontend.Process.DisposeAsync();
        }

        foreach (var silo in Silos)
        {
            await silo.Process.DisposeAsync();
        }

        foreach (var replica in Replicas)
        {
            await replica.DisposeAsync();
        }
    }

    public sealed record Silo(ChildProcess Process, string Endpoint, string Management);

    public sealed record Frontend(ChildProcess Process, string Address);
}
