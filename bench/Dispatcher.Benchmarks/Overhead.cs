using System.Diagnostics;
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
/// front of two replicas, (c) Kestrel and YARP alone in front of the same two (<see cref="BareProxy"/>: the floor the
/// dispatcher is built on), (d) the dispatcher, (e) the same dispatcher with its grains in a silo process. The replicas answer at once (one token, no generation delay), so what is measured is the proxies.
/// Each is its own process on this 2-core machine, shared with the load: besides latency and throughput, each row says
/// what one request cost the proxy's own processes in processor time (from /proc, nginx's workers included) and, for the
/// dispatcher, in bytes allocated (from its /metrics), which move far less than timings on a busy machine.
/// </summary>
internal static class Overhead
{
    public const string Token = "bench-token-0000000000000001";
    private const string RemoteTarget = "Dispatcher, client of a silo";
    private const string BareTarget = "Kestrel + YARP alone";

    public static async Task<string> RunAsync(TimeSpan perPoint, int[] concurrencies)
    {
        await using var processes = new Processes();
        string[] instant = ["--Emulator:ModelName", "bench-model", "--Emulator:StepBase", "00:00:00", "--Emulator:StepPerRunning", "00:00:00",
            "--Emulator:PrefillPerToken", "00:00:00", "--Emulator:MaxNumSeqs", "100000"];
        var first = await processes.EmulatorAsync(instant);
        var second = await processes.EmulatorAsync(instant);
        var nginx = await processes.NginxAsync([first, second]);
        var bare = await processes.BareProxyAsync([first, second]);
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

        var (siloManagement, _, silo) = await processes.SiloAsync(database, model);
        var (remote, remoteProcess) = await processes.DispatcherAsync([.. model, "--Dispatcher:Cluster:Mode=Client", $"--ConnectionStrings:Postgres={database}"]);

        // Each target with the processes whose processor time it costs and the /metrics that count their allocations.
        var targets = new Target[]
        {
            new("emulator directly", first, [processes.At(first)], []),
            new("nginx round-robin", nginx, [processes.At(nginx)], []),
            new(BareTarget, bare, [processes.At(bare)], []),
            new("Dispatcher", dispatcher, [processes.At(dispatcher)], [new Uri(dispatcher, "/metrics")]),
            new(RemoteTarget, remote, [remoteProcess, silo], [new Uri(remote, "/metrics"), new Uri(siloManagement, "/metrics")]),
        };
        using var scraper = new HttpClient();
        var rows = new List<(string Target, int Concurrency, LoadResult Result, double CpuPerRequest, double? AllocatedPerRequest)>();
        var siloCpu = new Dictionary<int, double>(); // the silo's own share of the client-and-silo row: the grains' side of every call
        foreach (var concurrency in concurrencies)
        {
            foreach (var target in targets)
            {
                LoadOptions Options(TimeSpan duration) => new()
                {
                    BaseAddress = target.Address, Token = Token, Model = "bench-model", Concurrency = concurrency, Duration = duration, Stream = true, MaxTokens = 1,
                };

                // Warmed up to its steady state (connections, tiered JIT with its profile-guided recompilation) first.
                await LoadRunner.RunAsync(Options(TimeSpan.FromSeconds(Math.Max(1, perPoint.TotalSeconds / 2))));
                var cpuBefore = target.Processes.Sum(Processes.ProcessorSeconds);
                var isRemote = target.Name == RemoteTarget;
                var siloBefore = isRemote ? Processes.ProcessorSeconds(silo) : 0;
                var allocatedBefore = await AllocatedAsync(scraper, target.Metrics);
                var result = await LoadRunner.RunAsync(Options(perPoint));
                var cpu = target.Processes.Sum(Processes.ProcessorSeconds) - cpuBefore;
                var siloUsed = isRemote ? Processes.ProcessorSeconds(silo) - siloBefore : 0;
                var allocated = await AllocatedAsync(scraper, target.Metrics) - allocatedBefore;
                var requests = Math.Max(1, result.Requests);
                if (isRemote)
                {
                    siloCpu[concurrency] = siloUsed / requests;
                }

                rows.Add((target.Name, concurrency, result, cpu / requests, target.Metrics.Length > 0 ? allocated / requests : null));
            }
        }

        var text = new StringBuilder();
        text.AppendLine("| concurrency | target | requests/s | latency p50 | latency p99 | first byte p50 | first byte p99 | added p50 | added p99 | processor per request | allocated per request | errors |");
        text.AppendLine("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (var group in rows.GroupBy(r => r.Concurrency))
        {
            var direct = group.First().Result;
            foreach (var (target, concurrency, result, cpuPerRequest, allocatedPerRequest) in group)
            {
                double P(List<double> v, double p) => LoadResult.Percentile(v, p);
                var added50 = P(result.Latencies, 0.5) - P(direct.Latencies, 0.5);
                var added99 = P(result.Latencies, 0.99) - P(direct.Latencies, 0.99);
                text.AppendLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {concurrency} | {target} | {result.RequestsPerSecond:0} | {P(result.Latencies, 0.5):0.00} ms | {P(result.Latencies, 0.99):0.00} ms | {P(result.FirstBytes, 0.5):0.00} ms | {P(result.FirstBytes, 0.99):0.00} ms | {(ReferenceEquals(result, direct) ? "-" : $"{added50:+0.00;-0.00} ms")} | {(ReferenceEquals(result, direct) ? "-" : $"{added99:+0.00;-0.00} ms")} | {cpuPerRequest * 1e6:0} µs | {(allocatedPerRequest is { } bytes ? $"{bytes / 1024:0.0} KiB" : "-")} | {result.Errors} |"));
            }
        }

        text.AppendLine();
        foreach (var group in rows.GroupBy(r => r.Concurrency))
        {
            var rps = group.ToDictionary(r => r.Target, r => r.Result.RequestsPerSecond);
            var cpu = group.ToDictionary(r => r.Target, r => r.CpuPerRequest * 1e6);
            text.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"- concurrency {group.Key}: Dispatcher {rps["Dispatcher"]:0} req/s = {rps["Dispatcher"] / rps["nginx round-robin"]:0.00}x nginx, {rps["Dispatcher"] / rps[BareTarget]:0.00}x Kestrel + YARP alone ({rps[BareTarget] / rps["nginx round-robin"]:0.00}x nginx), {rps["Dispatcher"] / rps["emulator directly"]:0.00}x the replica alone; " +
                $"as a client of a silo process {rps[RemoteTarget]:0} req/s = {rps[RemoteTarget] / rps["Dispatcher"]:0.00}x the embedded silo; " +
                $"processor per request {cpu["Dispatcher"]:0} µs embedded, {cpu[RemoteTarget]:0} µs as client and silo (the silo {siloCpu[group.Key] * 1e6:0} µs), {cpu[BareTarget]:0} µs Kestrel + YARP alone, {cpu["nginx round-robin"]:0} µs nginx."));
        }

        return text.ToString();
    }

    /// <summary>Bytes allocated so far by the processes behind <paramref name="metrics"/> (<c>dotnet_gc_allocated_bytes_total</c>).</summary>
    private static async Task<double> AllocatedAsync(HttpClient http, Uri[] metrics)
    {
        var total = 0.0;
        foreach (var address in metrics)
        {
            var line = (await http.GetStringAsync(address)).Split('\n').First(l => l.StartsWith("dotnet_gc_allocated_bytes_total ", StringComparison.Ordinal));
            total += double.Parse(line[(line.IndexOf(' ', StringComparison.Ordinal) + 1)..], CultureInfo.InvariantCulture);
        }

        return total;
    }

    /// <param name="Name">The row's name.</param>
    /// <param name="Address">Where the load goes.</param>
    /// <param name="Processes">The processes whose processor time it costs (the replicas behind a proxy are not counted).</param>
    /// <param name="Metrics">The /metrics of its .NET processes of ours, for their allocations; none for the others.</param>
    private sealed record Target(string Name, Uri Address, Process[] Processes, Uri[] Metrics);
}
