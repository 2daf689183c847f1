using System.Globalization;
using System.Text;
using Dispatcher.LoadDriver;
using Dispatcher.Silo.Database;
using Dispatcher.Silo.Tokens;
using Dispatcher.Testing;
using Npgsql;

namespace Dispatcher.Benchmarks;

/// <summary>
/// The cost of the hop: the same streamed load against (a) an emulated replica directly, (b) nginx round-robin in
/// front of two replicas, (c) the dispatcher in front of the same two, (d) the same dispatcher with its grains in a
/// silo process. The replicas answer at once (one token, no generation delay), so what is measured is the proxies.
/// Each is its own process on this 2-core machine.
/// </summary>
internal static class Overhead
{
    public const string Token = "bench-token-0000000000000001";
    private const string RemoteTarget = "Dispatcher, client of a silo";

    public static async Task<string> RunAsync(TimeSpan perPoint, int[] concurrencies)
    {
        await using var processes = new Processes();
        string[] instant = ["--Emulator:ModelName", "bench-model", "--Emulator:StepBase", "00:00:00", "--Emulator:StepPerRunning", "00:00:00",
            "--Emulator:PrefillPerToken", "00:00:00", "--Emulator:MaxNumSeqs", "100000"];
        var first = await processes.EmulatorAsync(instant);
        var second = await processes.EmulatorAsync(instant);
        var nginx = await processes.NginxAsync([first, second]);
        string[] model = ["--Dispatcher:Models:0:Name=bench-model", $"--Dispatcher:Models:0:Backends:0={first}", $"--Dispatcher:Models:0:Backends:1={second}",
            "--Dispatcher:Capacity:UseMetrics=false", "--Dispatcher:MaxConcurrentLeasesPerBackend=100000"];
        var (dispatcher, _) = await processes.DispatcherAsync(
            [.. model, "--Dispatcher:Tokens:0:Name=bench", $"--Dispatcher:Tokens:0:Token={Token}", "--Dispatcher:Tokens:0:Threshold=100000"]);

        // (d) the same Frontend as an Orleans client of a silo process (membership and tokens in PostgreSQL: the server
        // CI started, or a private one): every lease and release is a grain call across processes.
        var postgres = await PostgresServer.SharedAsync(); // CI's server, or a private one stopped at exit
        var database = await postgres.CreateDatabaseAsync();
        await using (var dataSource = NpgsqlDataSource.Create(database))
        {
            await PostgresMigrator.MigrateAsync(dataSource, CancellationToken.None);
            await new TokenAdmin(dataSource).PutAsync("bench", Token, 1, 100000, null, CancellationToken.None);
        }

        await processes.SiloAsync(database, model);
        var (remote, _) = await processes.DispatcherAsync([.. model, "--Dispatcher:Cluster:Mode=Client", $"--ConnectionStrings:Postgres={database}"]);

        var targets = new (string Name, Uri Address)[]
        {
            ("emulator directly", first), ("nginx round-robin", nginx), ("Dispatcher", dispatcher), (RemoteTarget, remote),
        };
        var rows = new List<(string Target, int Concurrency, LoadResult Result)>();
        foreach (var concurrency in concurrencies)
        {
            foreach (var (name, address) in targets)
            {
                LoadOptions Options(TimeSpan duration) => new()
                {
                    BaseAddress = address, Token = Token, Model = "bench-model", Concurrency = concurrency, Duration = duration, Stream = true, MaxTokens = 1,
                };
                await LoadRunner.RunAsync(Options(TimeSpan.FromSeconds(1))); // warm up connections and JIT
                rows.Add((name, concurrency, await LoadRunner.RunAsync(Options(perPoint))));
            }
        }

        var text = new StringBuilder();
        text.AppendLine("| concurrency | target | requests/s | latency p50 | latency p99 | first byte p50 | first byte p99 | added p50 | added p99 | errors |");
        text.AppendLine("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (var group in rows.GroupBy(r => r.Concurrency))
        {
            var direct = group.First().Result;
            foreach (var (target, concurrency, result) in group)
            {
                double P(List<double> v, double p) => LoadResult.Percentile(v, p);
                var added50 = P(result.Latencies, 0.5) - P(direct.Latencies, 0.5);
                var added99 = P(result.Latencies, 0.99) - P(direct.Latencies, 0.99);
                text.AppendLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {concurrency} | {target} | {result.RequestsPerSecond:0} | {P(result.Latencies, 0.5):0.00} ms | {P(result.Latencies, 0.99):0.00} ms | {P(result.FirstBytes, 0.5):0.00} ms | {P(result.FirstBytes, 0.99):0.00} ms | {(ReferenceEquals(result, direct) ? "-" : $"{added50:+0.00;-0.00} ms")} | {(ReferenceEquals(result, direct) ? "-" : $"{added99:+0.00;-0.00} ms")} | {result.Errors} |"));
            }
        }

        text.AppendLine();
        foreach (var group in rows.GroupBy(r => r.Concurrency))
        {
            var rps = group.ToDictionary(r => r.Target, r => r.Result.RequestsPerSecond);
            text.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"- concurrency {group.Key}: Dispatcher {rps["Dispatcher"]:0} req/s = {rps["Dispatcher"] / rps["nginx round-robin"]:0.00}x nginx, {rps["Dispatcher"] / rps["emulator directly"]:0.00}x the replica alone; " +
                $"as a client of a silo process {rps[RemoteTarget]:0} req/s = {rps[RemoteTarget] / rps["Dispatcher"]:0.00}x the embedded silo."));
        }

        return text.ToString();
    }
}
