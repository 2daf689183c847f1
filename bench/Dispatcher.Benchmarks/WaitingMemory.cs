using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Dispatcher.Grains.Metrics;
using Dispatcher.Silo.Database;
using Dispatcher.Silo.Tokens;
using Dispatcher.Testing;
using Npgsql;

namespace Dispatcher.Benchmarks;

/// <summary>
/// Resident memory while N requests wait over HTTP/2 (one replica held by one long request, so everything else waits
/// in the dispatcher's queue), in both layouts: the embedded default (one process) and a cluster (a silo process and
/// a Frontend in client mode, where each waiting request is also a pending grain call across processes). Bytes per
/// waiting request = growth / N for each process: the whole cost, Kestrel's streams, request objects and Orleans'
/// messages included, not only the wait-list entry. Before the requests and after every client left (requests cut,
/// connections closed), each process is made to run a full collection, and its managed heap (live objects) is read
/// from its <c>/metrics</c>: whether memory returns near its level before is told by that heap (resident memory keeps
/// the pages the GC grew to). A second round of as many requests follows: what it leaves on top of the first tells a
/// leak (growing with every round) from capacity kept at its high-water mark; then the processes stay idle while the
/// heaps are read until they stop falling, as pools give back what they kept.
/// </summary>
internal static class WaitingMemory
{
    private const string Model = "bench-model";

    /// <param name="counts">Waiting requests to measure with.</param>
    /// <param name="layouts">For each layout to run: clustered (true) or embedded (false).</param>
    public static async Task<string> RunAsync(int[] counts, bool[] layouts)
    {
        var lines = new List<string>
        {
            "| layout | waiting requests | process | resident memory | growth | per waiting request | all clients gone: queue empty after | resident memory then | live managed heap: before -> all gone -> all gone again -> then idle (for) | resident memory after idle |",
            "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        };
        foreach (var clustered in layouts)
        {
            foreach (var count in counts)
            {
                var rows = await MeasureAsync(count, clustered);
                rows.ForEach(Console.Error.WriteLine); // as they come: a later layout may take long or fail
                lines.AddRange(rows);
            }
        }

        return string.Join(Environment.NewLine, lines) + Environment.NewLine;
    }

    private static async Task<List<string>> MeasureAsync(int count, bool clustered)
    {
        await using var processes = new Processes();
        var replica = await processes.EmulatorAsync("--Emulator:ModelName", Model, "--Emulator:StepBase", "00:00:00.050");
        string[] settings =
        [
            $"--Dispatcher:Models:0:Name={Model}", $"--Dispatcher:Models:0:Backends:0={replica}",
            "--Dispatcher:Capacity:UseMetrics=false", "--Dispatcher:MaxConcurrentLeasesPerBackend=1", "--Dispatcher:QueueTimeout=00:10:00",
            // A Frontend sending 100,000 requests on these 2 shared cores gets no message to its silo for more than the
            // default 10 s, and its waits were dropped as those of a lost Frontend: this measures memory, not that.
            "--Dispatcher:HolderExpiry=00:01:00",
        ];
        var port = Processes.FreePort();
        List<(string Name, Process Process, Uri Metrics)> measured;
        Uri metrics; // where dispatcher_waiting is exported: the process that hosts the grains
        if (clustered)
        {
            var postgres = await PostgresServer.SharedAsync(); // CI's server, or a private one stopped at exit
            var database = await postgres.CreateDatabaseAsync();
            await using (var dataSource = NpgsqlDataSource.Create(database))
            {
                await PostgresMigrator.MigrateAsync(dataSource, CancellationToken.None);
                await new TokenAdmin(dataSource).PutAsync("bench", Overhead.Token, 1, 1_000_000, null, CancellationToken.None);
            }

            var (management, _, silo) = await processes.SiloAsync(database, settings);
            var (frontendAddress, frontend) = await processes.DispatcherAsync(port,
                [.. settings, "--Kestrel:Limits:Http2:MaxStreamsPerConnection=1000", "--Dispatcher:Cluster:Mode=Client", $"--ConnectionStrings:Postgres={database}"]);
            measured = [("Frontend (client)", frontend, frontendAddress), ("silo", silo, management)];
            metrics = management;
        }
        else
        {
            var (address, dispatcher) = await processes.DispatcherAsync(port,
                [.. settings, "--Kestrel:Limits:Http2:MaxStreamsPerConnection=1000",
                 "--Dispatcher:Tokens:0:Name=bench", $"--Dispatcher:Tokens:0:Token={Overhead.Token}", "--Dispatcher:Tokens:0:Threshold=1000000"]);
            measured = [("dispatcher", dispatcher, address)];
            metrics = address;
        }

        HttpClient Client()
        {
            var client = new HttpClient(new SocketsHttpHandler { EnableMultipleHttp2Connections = true, UseProxy = false })
            {
                BaseAddress = new Uri($"http://127.0.0.1:{port}"),
                DefaultRequestVersion = HttpVersion.Version20,
                DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
                Timeout = Timeout.InfiniteTimeSpan,
            };
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Overhead.Token);
            return client;
        }

        using var probe = new HttpClient { BaseAddress = metrics };
        var heaps = new List<long[]>(); // each process's live managed heap after a full collection: before, after each round
        async Task CollectedHeapsAsync()
        {
            foreach (var (_, process, _) in measured)
            {
                await Processes.CollectGarbageAsync(process);
            }

            heaps.Add(await Task.WhenAll(measured.Select(p => ManagedHeapAsync(probe, p.Metrics))));
        }

        async Task AllGoneAsync(HttpClient clients)
        {
            clients.Dispose(); // every client gone: their connections close too
            await Task.Delay(2000);
            await CollectedHeapsAsync();
        }

        // Warm up the same paths, then settle before the baseline.
        var http = Client();
        await RoundAsync(http, probe, 100, measure: null);
        var samples = new List<long[]>(); // each process's resident bytes: before the requests, while they wait, after they left
        var (reached, emptied) = await RoundAsync(http, probe, count, measure: async () =>
        {
            if (samples.Count == 2)
            {
                await AllGoneAsync(http);
            }
            else
            {
                await Task.Delay(2000);
                if (samples.Count == 0)
                {
                    await CollectedHeapsAsync(); // the baseline
                }
            }

            samples.Add([.. measured.Select(p => Processes.ResidentBytes(p.Process))]);
        });

        // The same again: what a second round leaves tells capacity kept from the first (a high-water mark) from a leak.
        http = Client();
        var calls = 0;
        await RoundAsync(http, probe, count, measure: async () =>
        {
            if (++calls == 3)
            {
                await AllGoneAsync(http);
            }
        });

        // Then idle, as a fleet between bursts: Kestrel gives its pooled blocks back a few percent every 10 s (ASP.NET Core
        // 10's memory pool eviction), so the heaps are read every 10 s until each process is within 2 MiB of its level
        // before or has stopped falling (less than 0.5 MiB in the last minute), for at most 5 minutes (30 s for smaller runs
        // such as CI's smoke run of 1,000).
        const long mebibyte = 1 << 20;
        var (idle, idleAtMost) = (Stopwatch.StartNew(), TimeSpan.FromSeconds(count >= 10_000 ? 300 : 30));
        while (idle.Elapsed < idleAtMost)
        {
            await Task.Delay(10_000);
            await CollectedHeapsAsync();
            var (now, minuteAgo) = (heaps[^1], heaps.Count >= 9 ? heaps[^7] : null);
            if (now.Select((heap, p) => heap - heaps[0][p] <= 2 * mebibyte || (minuteAgo is not null && minuteAgo[p] - heap < mebibyte / 2)).All(settled => settled))
            {
                break;
            }
        }

        long[] rested = [.. measured.Select(p => Processes.ResidentBytes(p.Process))];
        var (before, after, left) = (samples[0], samples[1], samples[2]);
        var layout = clustered ? "cluster" : "embedded";
        return [.. measured.Select((p, i) =>
        {
            var growth = after[i] - before[i];
            return string.Create(CultureInfo.InvariantCulture,
                $"| {layout} | {reached:N0} | {p.Name} | {after[i] / 1048576.0:0} MiB | {growth / 1048576.0:0} MiB | {(reached == 0 ? "-" : $"{(double)growth / reached / 1024:0.0} KiB")} | {emptied.TotalSeconds:0.0} s | {left[i] / 1048576.0:0} MiB | {heaps[0][i] / 1048576.0:0.0} -> {heaps[1][i] / 1048576.0:0.0} -> {heaps[2][i] / 1048576.0:0.0} -> {heaps[^1][i] / 1048576.0:0.0} MiB ({idle.Elapsed.TotalSeconds:0} s) | {rested[i] / 1048576.0:0} MiB |");
        })];
    }

    /// <summary>The managed heap a process reports on its <c>/metrics</c> (prometheus-net's <c>dotnet_total_memory_bytes</c>).</summary>
    private static async Task<long> ManagedHeapAsync(HttpClient probe, Uri process)
    {
        var metrics = PrometheusTextParser.Parse(await probe.GetStringAsync(new Uri(process, "/metrics")));
        return (long)(metrics.Sum("dotnet_total_memory_bytes") ?? throw new InvalidOperationException($"{process} exports no dotnet_total_memory_bytes"));
    }

    /// <summary>
    /// One request holds the replica, <paramref name="count"/> more wait; <paramref name="measure"/> runs before they are
    /// sent, again once they wait, and once more after every client left at once and the dispatcher holds nothing.
    /// Returns how many waited when measured and how long the dispatcher took to empty its queue after they left.
    /// </summary>
    private static async Task<(int Reached, TimeSpan Emptied)> RoundAsync(HttpClient http, HttpClient probe, int count, Func<Task>? measure)
    {
        using var stop = new CancellationTokenSource();
        Task<HttpResponseMessage> Send(int maxTokens) => http.PostAsync("/v1/chat/completions",
            new StringContent($"{{\"model\":\"{Model}\",\"messages\":[{{\"role\":\"user\",\"content\":\"hi\"}}],\"max_tokens\":{maxTokens}}}", Encoding.UTF8, "application/json"), stop.Token);

        var holder = Send(1_000_000);
        await WaitForAsync(probe, waiting: 0, inFlight: 1);
        if (measure is not null)
        {
            await measure();
        }

        var waiting = new List<Task<HttpResponseMessage>>(count) { holder };
        for (var i = 0; i < count; i++)
        {
            waiting.Add(Send(1));
        }

        var reached = await WaitForAsync(probe, waiting: count, inFlight: 1);
        if (measure is not null)
        {
            await measure();
        }

        var leaving = Stopwatch.StartNew();
        await stop.CancelAsync();
        await Task.WhenAll(waiting.Select(t => t.ContinueWith(_ => { }, TaskScheduler.Default)));
        await WaitForAsync(probe, waiting: 0, inFlight: 0, atMost: true);
        var emptied = leaving.Elapsed;
        if (measure is not null)
        {
            await measure();
        }

        return (reached, emptied);
    }

    /// <summary>
    /// Waits until the dispatcher reports <paramref name="waiting"/> waiting (at most, with <paramref name="atMost"/>) and
    /// returns the count reached. With 100,000 sent, a few hundred never reached the wait list on 2026-12-02 (0.6 %; not
    /// understood yet: the client then holds about 1,000 HTTP/2 connections of 100 streams each, and the dispatcher is
    /// idle): once the count stays still for 30 s (90 s below 99 %), that count is measured and reported.
    /// </summary>
    private static async Task<int> WaitForAsync(HttpClient probe, int waiting, int inFlight, bool atMost = false)
    {
        var (last, still) = (-1, Stopwatch.StartNew());
        // Two minutes, and a minute more per 20,000 requests sent (100,000 take minutes on 2 busy cores).
        for (var attempt = 0; attempt < 1200 + (waiting * 3 / 100); attempt++)
        {
            var metrics = PrometheusTextParser.Parse(await probe.GetStringAsync("/metrics"));
            var (w, f) = ((int)(metrics.Sum("dispatcher_waiting") ?? 0), metrics.Sum("dispatcher_in_flight") ?? 0);
            if (atMost ? w <= waiting && f <= inFlight : w >= waiting && f >= inFlight)
            {
                return w;
            }

            if (w != last)
            {
                (last, still) = (w, Stopwatch.StartNew());
            }
            else if (!atMost && f >= inFlight && w > 0 && still.Elapsed > TimeSpan.FromSeconds(w >= waiting * 0.99 ? 30 : 90))
            {
                return w;
            }

            await Task.Delay(100);
        }

        throw new TimeoutException($"never reached {waiting} waiting and {inFlight} in flight");
    }
}
