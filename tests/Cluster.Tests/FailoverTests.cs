using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json;
using Dispatcher.Grains.Abstractions.Models;
using Dispatcher.Grains.Abstractions.Tokens;
using Dispatcher.Silo.Cluster;
using Dispatcher.Silo.Remote;
using Dispatcher.Testing;
using Npgsql;
using Xunit.Abstractions;

namespace Dispatcher.Cluster.Tests;

/// <summary>
/// The cluster as deployed, on loopback: three silo processes and two Frontend processes on one PostgreSQL, emulated
/// replicas, sustained streaming load, and one silo killed with SIGKILL in the middle of it.
/// </summary>
public sealed class FailoverTests(ITestOutputHelper output)
{
    /// <summary>The measured figures of the last run, beside the test assembly (printed by <c>.ci/run</c>).</summary>
    public const string ReportFile = "failover-report.txt";

    private static readonly string[] Models = ["alpha", "beta", "gamma"];
    private static readonly TimeSpan Step = TimeSpan.FromMilliseconds(10);
    private static readonly TimeSpan Hang = TimeSpan.FromSeconds(45);

    [Fact]
    public async Task SiloKilledUnderLoad_ModelsServedAgainWithinSeconds_NothingLostHungOrServedTwice()
    {
        var postgres = await (await PostgresServer.SharedAsync()).CreateDatabaseAsync();
        await Fleet.PutTokenAsync(postgres);
        await using var fleet = await Fleet.StartAsync(Models, replicasPerModel: 2, Step);
        var settings = fleet.Settings(capacity: 3, tokenInConfiguration: false);
        var processes = new List<ChildProcess>();
        try
        {
            // Three silos; the spread settles fast (rebalance after 1 s); heartbeat and ownership timeouts are the defaults.
            var silos = new Dictionary<string, (string Address, string Management)>(StringComparer.Ordinal);
            for (var i = 1; i <= 3; i++)
            {
                var (id, address, management) = ($"silo-{i}", $"http://127.0.0.1:{FreePort.Next()}", $"http://127.0.0.1:{FreePort.Next()}");
                silos[id] = (address, management);
                var arguments = Arguments(settings, new()
                {
                    ["ConnectionStrings:Postgres"] = postgres,
                    ["Dispatcher:Cluster:SiloId"] = id,
                    ["Dispatcher:Cluster:InternalUrl"] = address,
                    ["Dispatcher:Cluster:ManagementUrl"] = management,
                    ["Dispatcher:Cluster:AdvertisedAddress"] = address,
                    ["Dispatcher:Cluster:RebalanceDelay"] = "00:00:01",
                });
                processes.Add(ChildProcess.Start(id, "Dispatcher.Silo.dll", arguments.Prepend("serve")));
            }

            var frontends = new List<string>();
            for (var i = 1; i <= 2; i++)
            {
                var url = $"http://127.0.0.1:{FreePort.Next()}";
                frontends.Add(url);
                var remote = silos.Values.Select((s, n) => (n, s.Address)).ToDictionary(p => $"Dispatcher:Silo:Addresses:{p.n}", p => (string?)p.Address);
                remote["urls"] = url;
                processes.Add(ChildProcess.Start($"frontend-{i}", "Dispatcher.Frontend.dll", Arguments(settings, remote)));
            }

            foreach (var (process, url) in processes.Zip(silos.Values.Select(s => s.Management).Concat(frontends)))
            {
                await process.WaitReadyAsync($"{url}/health/ready", TimeSpan.FromSeconds(60));
            }

            using var calls = new SiloCalls();
            var ids = silos.Keys.ToList();
            await Eventually.TrueAsync(async () =>
            {
                var view = await calls.ViewAsync(silos["silo-1"].Address);
                return view.Silos.Count == 3 && Models.All(m => view.Models.Any(o => o.Model == m && o.SiloId == ClusterKeys.Preferred(m, ids)));
            }, () => "the three silos did not settle on the rendezvous placement");
            var before = await calls.ViewAsync(silos["silo-1"].Address);
            var victim = before.Models.GroupBy(o => o.SiloId).OrderByDescending(g => g.Count()).First().Key;
            var moved = before.Models.Where(o => o.SiloId == victim).Select(o => o.Model).ToList();
            var survivor = silos.First(s => s.Key != victim).Value.Address;
            output.WriteLine($"placement: {string.Join(", ", before.Models.Select(o => $"{o.Model}@{o.SiloId}"))}; killing {victim} ({string.Join(", ", moved)})");

            // Sustained load: 12 streaming clients per Frontend, each sending requests back to back.
            var outcomes = new ConcurrentBag<Outcome>();
            using var stopLoad = new CancellationTokenSource();
            var clock = Stopwatch.StartNew();
            var clients = frontends.SelectMany(f => Enumerable.Range(0, 12).Select(n => RunClientAsync(f, n, outcomes, clock, stopLoad.Token))).ToList();

            await Task.Delay(TimeSpan.FromSeconds(3));
            var killedAt = clock.Elapsed;
            output.WriteLine($"SIGKILL {victim} at {DateTime.Now:HH:mm:ss.fff}");
            processes.Single(p => p.Name == victim).Kill();
            var takeover = await MeasureTakeoverAsync(calls, survivor, victim, moved, clock, killedAt);
            await Task.Delay(TimeSpan.FromSeconds(6));
            await stopLoad.CancelAsync();
            await Task.WhenAll(clients);

            var all = outcomes.ToList();
            var servedAgain = moved.Select(m => all.Where(o => o.Model == m && o.Kind == OutcomeKind.Completed && o.Started > killedAt).Select(o => o.Ended - killedAt).DefaultIfEmpty(TimeSpan.MaxValue).Min()).Max();
            var spanningKill = all.Where(o => moved.Contains(o.Model) && o.FirstByte is { } first && first < killedAt && o.Ended > killedAt).ToList();
            string[] report =
            [
                string.Create(CultureInfo.InvariantCulture,
                    $"requests {all.Count}: completed {all.Count(o => o.Kind == OutcomeKind.Completed)}, errors {all.Count(o => o.Kind == OutcomeKind.Error)} " +
                    $"[{string.Join(", ", all.Where(o => o.Kind == OutcomeKind.Error).GroupBy(o => $"{o.Status} {o.Detail}").Select(g => $"{g.Key} x{g.Count()}"))}], " +
                    $"broken {all.Count(o => o.Kind == OutcomeKind.Broken)}, hung {all.Count(o => o.Kind == OutcomeKind.Hung)}"),
                string.Create(CultureInfo.InvariantCulture,
                    $"takeover (directory shows a live owner for every moved model): {takeover.TotalMilliseconds:0} ms after SIGKILL; " +
                    $"first request of every moved model served again {servedAgain.TotalMilliseconds:0} ms after; {spanningKill.Count} streams of moved models were running at the kill"),
            ];
            foreach (var line in report)
            {
                output.WriteLine(line);
            }

            // vstest shows a passing test's output only at detailed verbosity: the figures also go to a file CI prints.
            await File.WriteAllLinesAsync(Path.Combine(AppContext.BaseDirectory, ReportFile), report);

            foreach (var process in processes.Where(p => p.Name.StartsWith("silo", StringComparison.Ordinal)))
            {
                var events = process.Output.Split('\n').Where(l => l.Contains("Dispatcher.Silo.Cluster", StringComparison.Ordinal) || l.Contains("Model ", StringComparison.Ordinal) || l.Contains("Silo ", StringComparison.Ordinal));
                output.WriteLine($"{process.Name}: {string.Join(" | ", events.Select(l => l.Trim()))}");
            }

            Assert.DoesNotContain(all, o => o.Kind == OutcomeKind.Hung);
            Assert.DoesNotContain(all, o => o.Kind == OutcomeKind.Broken);
            Assert.All(all.Where(o => o.Kind == OutcomeKind.Error), o => Assert.True(o.Status is 503 or 429 && o.Detail is not null, $"unclear error: {o}"));
            Assert.NotEmpty(spanningKill);
            Assert.All(spanningKill, o => Assert.Equal(OutcomeKind.Completed, o.Kind));
            Assert.True(takeover <= TimeSpan.FromSeconds(5), $"takeover took {takeover}");
            Assert.True(servedAgain <= TimeSpan.FromSeconds(5), $"moved models served again only after {servedAgain}");

            // Nothing served twice: every request that reached a replica did so once, and only completed ones did.
            var received = fleet.AllReplicas.SelectMany(r => r.RequestIds).ToList();
            Assert.Equal(received.Count, received.Distinct().Count());
            Assert.All(all.Where(o => o.Kind == OutcomeKind.Completed), o => Assert.Contains(o.Detail!, received));
            Assert.Equal(all.Count(o => o.Kind == OutcomeKind.Completed), received.Count);

            // Leases and counters back to zero on the live silos; the replicas idle.
            var tokenId = TokenHash.Compute(Fleet.Token);
            await Eventually.TrueAsync(async () =>
            {
                var view = await calls.ViewAsync(survivor);
                if (view.Models.Count != Models.Length || view.Models.Any(o => o.SiloId == victim))
                {
                    return false;
                }

                foreach (var owner in view.Models)
                {
                    if (await calls.GetAsync<ModelSnapshot>(owner.Address, $"{SiloProtocol.SnapshotPath}?model={owner.Model}") is not { Waiting: 0, InFlight: 0 })
                    {
                        return false;
                    }
                }

                foreach (var silo in view.Silos)
                {
                    if (await calls.GetAsync<TokenCounters>(silo.Address, SiloProtocol.TokenCountersPath(tokenId)) is not { Waiting: 0, InFlight: 0 })
                    {
                        return false;
                    }
                }

                return fleet.AllReplicas.All(r => r.Engine.Stats().Running == 0);
            }, () => "leases or counters did not return to zero");

            await using var database = NpgsqlDataSource.Create(postgres);
            await using var status = database.CreateCommand("SELECT status FROM dispatcher_silos WHERE silo_id = @id");
            status.Parameters.AddWithValue("id", victim);
            Assert.Equal("dead", await status.ExecuteScalarAsync());
        }
        catch
        {
            foreach (var process in processes)
            {
                output.WriteLine($"--- {process.Name}{Environment.NewLine}{process.Output}");
            }

            throw;
        }
        finally
        {
            foreach (var process in processes)
            {
                await process.DisposeAsync();
            }
        }
    }

    /// <summary>From the kill until a survivor's view shows a live owner for every model the victim held.</summary>
    private static async Task<TimeSpan> MeasureTakeoverAsync(SiloCalls calls, string survivor, string victim, List<string> moved, Stopwatch clock, TimeSpan killedAt)
    {
        while (clock.Elapsed - killedAt < TimeSpan.FromSeconds(30))
        {
            var view = await calls.ViewAsync(survivor);
            if (moved.TrueForAll(m => view.Models.Any(o => o.Model == m && o.SiloId != victim)))
            {
                return clock.Elapsed - killedAt;
            }

            await Task.Delay(20);
        }

        return TimeSpan.MaxValue;
    }

    private static async Task RunClientAsync(string frontend, int client, ConcurrentBag<Outcome> outcomes, Stopwatch clock, CancellationToken stop)
    {
        using var http = Fleet.Client(frontend);
        http.Timeout = Timeout.InfiniteTimeSpan;
        var random = new Random(client);
        while (!stop.IsCancellationRequested)
        {
            var model = Models[random.Next(Models.Length)];
            outcomes.Add(await SendAsync(http, model, 10 + random.Next(30), clock));
        }
    }

    /// <summary>One streaming request, read to its end; never throws.</summary>
    private static async Task<Outcome> SendAsync(HttpClient http, string model, int tokens, Stopwatch clock)
    {
        var started = clock.Elapsed;
        TimeSpan? firstByte = null;
        using var hang = new CancellationTokenSource(Hang);
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = Fleet.Chat(model, tokens, stream: true) };
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, hang.Token);
            if (response.StatusCode != HttpStatusCode.OK)
            {
                var body = await response.Content.ReadAsStringAsync(hang.Token);
                string? code = null;
                try
                {
                    code = JsonDocument.Parse(body).RootElement.GetProperty("error").GetProperty("code").GetString();
                }
                catch (Exception exception) when (exception is JsonException or KeyNotFoundException or InvalidOperationException)
                {
                }

                return new Outcome(model, started, null, clock.Elapsed, (int)response.StatusCode, OutcomeKind.Error, code);
            }

            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(hang.Token));
            while (await reader.ReadLineAsync(hang.Token) is { } line)
            {
                firstByte ??= clock.Elapsed;
                if (line == "data: [DONE]")
                {
                    return new Outcome(model, started, firstByte, clock.Elapsed, 200, OutcomeKind.Completed, response.Headers.TryGetValues("X-Request-Id", out var id) ? id.First() : null);
                }
            }

            return new Outcome(model, started, firstByte, clock.Elapsed, 200, OutcomeKind.Broken, "stream ended without [DONE]");
        }
        catch (OperationCanceledException) when (hang.IsCancellationRequested)
        {
            return new Outcome(model, started, firstByte, clock.Elapsed, 0, OutcomeKind.Hung, null);
        }
        catch (Exception exception) when (exception is HttpRequestException or IOException)
        {
            return new Outcome(model, started, firstByte, clock.Elapsed, 0, OutcomeKind.Broken, exception.Message);
        }
    }

    private static List<string> Arguments(Dictionary<string, string?> settings, Dictionary<string, string?> more) =>
    [
        .. settings.Concat(more).Select(p => $"--{p.Key}={p.Value}"),
        "--Logging:LogLevel:Default=Warning",
        "--Logging:LogLevel:Dispatcher=Information",
        "--Logging:Console:FormatterName=simple",
        "--Logging:Console:FormatterOptions:SingleLine=true",
        "--Logging:Console:FormatterOptions:TimestampFormat=HH:mm:ss.fff ",
    ];

    private enum OutcomeKind
    {
        Completed,
        Error,
        Broken,
        Hung,
    }

    private sealed record Outcome(string Model, TimeSpan Started, TimeSpan? FirstByte, TimeSpan Ended, int Status, OutcomeKind Kind, string? Detail);
}
