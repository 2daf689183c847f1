using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Dispatcher.Silo.Database;
using Dispatcher.Silo.Tokens;
using Dispatcher.Testing;
using Npgsql;

namespace Dispatcher.Benchmarks;

/// <summary>
/// Failover time on real processes: three silos and a Frontend in client mode on PostgreSQL, eight streaming clients,
/// then, <c>kills</c> times, SIGKILL of the silo hosting the model (a new silo replaces it before the next kill). For
/// each kill: the time until the first request sent after the kill gets its response headers (the Frontend forwards
/// only after a grant, so this is the first new grant plus the replica's first byte), and the errors clients saw.
/// Then, <c>kills</c> times, a second Frontend holding all eight leases with long streams is killed with SIGKILL: the
/// time until the model grain holds no lease any more (the holder expiry).
/// </summary>
internal static class Failover
{
    private const string Model = "bench-model";
    private const string Token = "sk-bench-failover-0123456789";

    public static async Task<string> RunAsync(int kills)
    {
        await using var processes = new Processes();
        var postgres = await PostgresServer.SharedAsync(); // CI's server, or a private one stopped at exit
        var database = await postgres.CreateDatabaseAsync();
        await using (var dataSource = NpgsqlDataSource.Create(database))
        {
            await PostgresMigrator.MigrateAsync(dataSource, CancellationToken.None);
            await new TokenAdmin(dataSource).PutAsync("bench", Token, 1, 100000, null, CancellationToken.None);
        }

        string[] emulator = ["--Emulator:ModelName", Model, "--Emulator:StepBase", "00:00:00.020", "--Emulator:StepPerRunning", "00:00:00"];
        var first = await processes.EmulatorAsync(emulator);
        var second = await processes.EmulatorAsync(emulator);
        string[] settings = [$"--Dispatcher:Models:0:Name={Model}", $"--Dispatcher:Models:0:Backends:0={first}", $"--Dispatcher:Models:0:Backends:1={second}",
            "--Dispatcher:Capacity:UseMetrics=false", "--Dispatcher:MaxConcurrentLeasesPerBackend=4", "--Dispatcher:Dashboard:Open=true"];
        var silos = new List<(Uri Management, string Endpoint, Process Process)>();
        for (var i = 0; i < 3; i++)
        {
            silos.Add(await processes.SiloAsync(database, settings));
        }

        var (frontend, _) = await processes.DispatcherAsync([.. settings, "--Dispatcher:Cluster:Mode=Client", $"--ConnectionStrings:Postgres={database}"]);
        var clock = Stopwatch.StartNew();
        var headers = new List<(TimeSpan Sent, TimeSpan Headers)>();
        var errors = 0;
        var requests = 0;
        using var stop = new CancellationTokenSource();
        var clients = Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
        {
            using var http = new HttpClient { BaseAddress = frontend, Timeout = TimeSpan.FromSeconds(60) };
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);
            while (!stop.IsCancellationRequested)
            {
                var sent = clock.Elapsed;
                using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
                {
                    Content = new StringContent($"{{\"model\":\"{Model}\",\"messages\":[{{\"role\":\"user\",\"content\":\"Hi\"}}],\"max_tokens\":8,\"stream\":true}}", Encoding.UTF8, "application/json"),
                };
                try
                {
                    using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
                    var arrived = clock.Elapsed;
                    var body = await response.Content.ReadAsStringAsync();
                    var ok = response.IsSuccessStatusCode && body.Contains("[DONE]", StringComparison.Ordinal);
                    lock (headers)
                    {
                        requests++;
                        errors += ok ? 0 : 1;
                        if (ok)
                        {
                            headers.Add((sent, arrived));
                        }
                    }
                }
                catch (Exception exception) when (exception is HttpRequestException or TaskCanceledException)
                {
                    Interlocked.Increment(ref errors);
                }
            }
        })).ToList();

        var takeovers = new List<TimeSpan>();
        using var management = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        for (var kill = 0; kill < kills; kill++)
        {
            await Task.Delay(TimeSpan.FromSeconds(3));
            var live = silos.Where(s => !s.Process.HasExited).ToList();
            using var view = JsonDocument.Parse(await management.GetStringAsync(new Uri(live[0].Management, "/cluster")));
            var hosting = view.RootElement.GetProperty("models").GetProperty(Model).GetString();
            var victim = live.Single(s => s.Endpoint == hosting);
            var killedAt = clock.Elapsed;
            victim.Process.Kill();
            await victim.Process.WaitForExitAsync();

            // The first request sent after the kill that got its headers.
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
            TimeSpan? resumed = null;
            while (resumed is null && DateTime.UtcNow < deadline)
            {
                await Task.Delay(20);
                lock (headers)
                {
                    resumed = headers.Where(h => h.Sent > killedAt).Select(h => (TimeSpan?)h.Headers).Min();
                }
            }

            takeovers.Add((resumed ?? TimeSpan.FromSeconds(30) + killedAt) - killedAt);
            silos.Add(await processes.SiloAsync(database, settings)); // back to three before the next kill
        }

        await Task.Delay(TimeSpan.FromSeconds(2));
        await stop.CancelAsync();
        await Task.WhenAll(clients);

        var freed = new List<TimeSpan>();
        for (var kill = 0; kill < kills; kill++)
        {
            freed.Add(await KillFrontendAsync(processes, [.. settings, "--Dispatcher:Cluster:Mode=Client", $"--ConnectionStrings:Postgres={database}"],
                silos.First(s => !s.Process.HasExited).Management));
        }

        return string.Create(CultureInfo.InvariantCulture,
            $"| kills | first new grant after SIGKILL, min / median / max | requests | client errors |{Environment.NewLine}" +
            $"| ---: | --- | ---: | ---: |{Environment.NewLine}" +
            $"| {kills} | {Spread(takeovers)} | {requests} | {errors} |{Environment.NewLine}" +
            $"{Environment.NewLine}Each kill: {Each(takeovers)}{Environment.NewLine}{Environment.NewLine}" +
            $"| Frontend kills | its 8 leases back after SIGKILL, min / median / max |{Environment.NewLine}" +
            $"| ---: | --- |{Environment.NewLine}" +
            $"| {kills} | {Spread(freed)} |{Environment.NewLine}" +
            $"{Environment.NewLine}Each kill: {Each(freed)}{Environment.NewLine}");
    }

    /// <summary>
    /// Starts a Frontend, holds all eight leases through it with long streams, kills it with SIGKILL and returns the time
    /// until the model grain (asked through <paramref name="silo"/>'s management endpoint) holds no lease.
    /// </summary>
    private static async Task<TimeSpan> KillFrontendAsync(Processes processes, string[] settings, Uri silo)
    {
        var (frontend, process) = await processes.DispatcherAsync(settings);
        using var cut = new CancellationTokenSource();
        var streams = Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
        {
            using var http = new HttpClient { BaseAddress = frontend, Timeout = Timeout.InfiniteTimeSpan };
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);
            using var content = new StringContent($"{{\"model\":\"{Model}\",\"messages\":[{{\"role\":\"user\",\"content\":\"Hi\"}}],\"max_tokens\":4000,\"stream\":true}}", Encoding.UTF8, "application/json");
            try
            {
                using var response = await http.PostAsync("/v1/chat/completions", content, cut.Token);
                await response.Content.ReadAsStringAsync(cut.Token);
            }
            catch (Exception exception) when (exception is HttpRequestException or OperationCanceledException or IOException)
            {
                // Its Frontend is killed under it.
            }
        })).ToList();

        using var management = new HttpClient { BaseAddress = silo, Timeout = TimeSpan.FromSeconds(10) };
        await UntilLeasesAsync(management, 8);
        var killed = Stopwatch.StartNew();
        process.Kill();
        await process.WaitForExitAsync();
        await UntilLeasesAsync(management, 0);
        var freed = killed.Elapsed;
        await cut.CancelAsync();
        await Task.WhenAll(streams);
        return freed;
    }

    /// <summary>Waits (at most a minute) until the model grain holds exactly <paramref name="leases"/> leases.</summary>
    private static async Task UntilLeasesAsync(HttpClient management, int leases)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(1);
        while (true)
        {
            using var state = JsonDocument.Parse(await management.GetStringAsync("/dashboard/api/state"));
            if (state.RootElement.GetProperty("models")[0].GetProperty("inFlight").GetInt32() == leases)
            {
                return;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"the model never held {leases} leases: {state.RootElement}");
            }

            await Task.Delay(20);
        }
    }

    private static string Spread(List<TimeSpan> times)
    {
        var sorted = times.Order().ToList();
        return string.Create(CultureInfo.InvariantCulture, $"{sorted[0].TotalSeconds:0.00} / {sorted[sorted.Count / 2].TotalSeconds:0.00} / {sorted[^1].TotalSeconds:0.00} s");
    }

    private static string Each(List<TimeSpan> times) =>
        string.Join(", ", times.Select(t => t.TotalSeconds.ToString("0.00", CultureInfo.InvariantCulture))) + " s";
}
