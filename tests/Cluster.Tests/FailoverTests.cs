using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
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
/// Three silo processes and two Frontend processes (Orleans clients) on a private PostgreSQL database, with emulated
/// replicas, under streaming load: the silo hosting the model is killed with SIGKILL.
/// </summary>
public sealed class FailoverTests
{
    private const string Model = "cluster-model";
    private const string Token = "sk-cluster-test-0123456789";

    [Fact]
    public async Task KillSilo_HostingTheModel_EveryRequestCompletesOnceAndNothingIsLeftHeld()
    {
        await using var postgres = Environment.GetEnvironmentVariable(PostgresServer.EnvironmentVariable) is { Length: > 0 }
            ? await PostgresServer.SharedAsync()
            : await PostgresServer.StartPrivateAsync();
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
            $"--ConnectionStrings:Postgres={database}", "--Logging:LogLevel:Default=Warning", "--Logging:LogLevel:Orleans=Error", "--Logging:LogLevel:Dispatcher.Frontend=Debug", "--Dispatcher:Dashboard:Open=true",
            $"--Dispatcher:Models:0:Name={Model}", $"--Dispatcher:Models:0:Backends:0={replicas[0].BaseAddress}", $"--Dispatcher:Models:0:Backends:1={replicas[1].BaseAddress}",
            "--Dispatcher:Models:0:MaxConcurrentLeasesPerBackend=4", "--Dispatcher:Capacity:UseMetrics=false",
        ];
        var silos = new List<(ChildProcess Process, string Endpoint, string Management)>();
        var frontends = new List<(ChildProcess Process, string Address)>();
        try
        {
            for (var i = 0; i < 3; i++)
            {
                var (siloPort, management) = (FreePort.Next(), $"http://127.0.0.1:{FreePort.Next()}");
                var silo = ChildProcess.Start($"silo-{i}", "Dispatcher.Silo.dll",
                    ["serve", "--urls", management, $"--Dispatcher:Cluster:SiloPort={siloPort}", $"--Dispatcher:Cluster:GatewayPort={FreePort.Next()}",
                     "--Dispatcher:Cluster:AdvertisedAddress=127.0.0.1", .. shared]);
                silos.Add((silo, $"127.0.0.1:{siloPort}", management));
                await silo.WaitReadyAsync($"{management}/health/ready", TimeSpan.FromSeconds(60));
            }

            for (var i = 0; i < 2; i++)
            {
                var address = $"http://127.0.0.1:{FreePort.Next()}";
                var frontend = ChildProcess.Start($"frontend-{i}", "Dispatcher.Frontend.dll", ["--urls", address, "--Dispatcher:Cluster:Mode=Client", .. shared]);
                frontends.Add((frontend, address));
                await frontend.WaitReadyAsync($"{address}/health/ready", TimeSpan.FromSeconds(60));
            }

            // Streaming load from 12 clients over both Frontends, more than the 8 leases the replicas take, so some wait.
            var statuses = new ConcurrentBag<string>();
            using var stop = new CancellationTokenSource();
            var clients = Enumerable.Range(0, 12).Select(c => Task.Run(async () =>
            {
                using var http = new HttpClient { BaseAddress = new Uri(frontends[c % 2].Address), Timeout = TimeSpan.FromSeconds(60) };
                http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);
                while (!stop.IsCancellationRequested)
                {
                    using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = Chat() };
                    using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, CancellationToken.None);
                    var id = response.Headers.TryGetValues("X-Request-Id", out var values) ? values.First() : "?";
                    string body;
                    try
                    {
                        body = await response.Content.ReadAsStringAsync(CancellationToken.None);
                    }
                    catch (Exception exception) when (exception is HttpRequestException or IOException or TaskCanceledException)
                    {
                        throw new IOException($"the stream of request {id} broke", exception);
                    }

                    statuses.Add(response.StatusCode == HttpStatusCode.OK && body.Contains("[DONE]", StringComparison.Ordinal) ? "ok" : $"{(int)response.StatusCode} {body}");
                }
            })).ToList();

            await Task.Delay(TimeSpan.FromSeconds(3));
            var hosting = await HostOfModelAsync(silos[0].Management);
            var victim = silos.Single(s => s.Endpoint == hosting);
            var served = statuses.Count;
            var killed = Stopwatch.StartNew();
            victim.Process.Kill();
            var survivor = silos.First(s => s != victim).Management;

            // Served again once a new activation grants leases.
            await Eventually.TrueAsync(() => statuses.Count > served + 12, () => $"nothing served after the kill; last statuses {string.Join(" | ", statuses.Take(5))}");
            var servedAgain = killed.Elapsed;
            await Task.Delay(TimeSpan.FromSeconds(4));
            await stop.CancelAsync();
            try
            {
                await Task.WhenAll(clients).WaitAsync(TimeSpan.FromSeconds(90));
            }
            catch (Exception exception) when (exception is HttpRequestException or TaskCanceledException or TimeoutException or IOException)
            {
                using var http = new HttpClient();
                var stateNow = await http.GetStringAsync($"{survivor}/dashboard/api/state");
                throw new InvalidOperationException($"a client failed: {exception.Message}{Environment.NewLine}state: {stateNow}{Environment.NewLine}"
                    + string.Join(Environment.NewLine, frontends.Select(f => $"--- {f.Process.Name}:{Environment.NewLine}{f.Process.Output}")), exception);
            }

            var failures = statuses.Where(s => s != "ok").ToList();
            Assert.True(failures.Count == 0, $"{failures.Count} of {statuses.Count} requests failed: {string.Join(" | ", failures.Take(5))}");
            var ids = replicas.SelectMany(r => r.RequestIds).ToList();
            Assert.Equal(ids.Count, ids.Distinct(StringComparer.Ordinal).Count()); // nothing forwarded twice
            Assert.Equal(statuses.Count, ids.Count); // and nothing lost

            // Leases running at the kill were adopted by the new activation, released or taken back by the holder expiry.
            var state = "";
            await Eventually.TrueAsync(async () =>
            {
                using var http = new HttpClient();
                state = await http.GetStringAsync($"{survivor}/dashboard/api/state");
                using var json = JsonDocument.Parse(state);
                var model = json.RootElement.GetProperty("models")[0];
                var tokens = json.RootElement.GetProperty("tokens").EnumerateArray();
                return model.GetProperty("waiting").GetInt32() == 0 && model.GetProperty("inFlight").GetInt32() == 0
                    && tokens.All(t => t.GetProperty("waiting").GetInt32() == 0 && t.GetProperty("inFlight").GetInt32() == 0);
            }, () => $"still held after the load: {state}");

            var report = string.Create(CultureInfo.InvariantCulture,
                $"{statuses.Count} requests, 0 failed, none twice; served again {servedAgain.TotalSeconds:0.00} s after SIGKILL of the hosting silo");
            await File.WriteAllTextAsync(Path.Combine(AppContext.BaseDirectory, "failover-report.txt"), report + Environment.NewLine);
        }
        finally
        {
            foreach (var (process, _) in frontends)
            {
                await process.DisposeAsync();
            }

            foreach (var (process, _, _) in silos)
            {
                await process.DisposeAsync();
            }

            foreach (var replica in replicas)
            {
                await replica.DisposeAsync();
            }
        }
    }

    private static async Task<string> HostOfModelAsync(string management)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        using var json = JsonDocument.Parse(await http.GetStringAsync($"{management}/cluster"));
        return json.RootElement.GetProperty("models").GetProperty(Model).GetString()!;
    }

    private static StringContent Chat() =>
        new($"{{\"model\":\"{Model}\",\"messages\":[{{\"role\":\"user\",\"content\":\"Hello\"}}],\"max_tokens\":8,\"stream\":true}}", Encoding.UTF8, "application/json");
}
