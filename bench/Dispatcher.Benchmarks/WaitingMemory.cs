using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Dispatcher.Grains.Metrics;

namespace Dispatcher.Benchmarks;

/// <summary>
/// Resident memory of the dispatcher process while N requests wait over HTTP/2 (one replica held by one long
/// request, so everything else waits in the dispatcher's queue). Bytes per waiting request = growth / N: the
/// whole cost, Kestrel's streams and request objects included, not only the wait-list entry.
/// </summary>
internal static class WaitingMemory
{
    public static async Task<string> RunAsync(int[] counts)
    {
        var lines = new List<string> { "| waiting requests | dispatcher resident memory | growth | per waiting request |", "| ---: | ---: | ---: | ---: |" };
        foreach (var count in counts)
        {
            lines.Add(await MeasureAsync(count));
        }

        return string.Join(Environment.NewLine, lines) + Environment.NewLine;
    }

    private static async Task<string> MeasureAsync(int count)
    {
        await using var processes = new Processes();
        var replica = await processes.EmulatorAsync("--Emulator:ModelName", "bench-model", "--Emulator:StepBase", "00:00:00.050");
        var port = Processes.FreePort();
        var (_, dispatcher) = await processes.DispatcherAsync(port,
            "--Kestrel:Limits:Http2:MaxStreamsPerConnection=1000",
            "--Dispatcher:Models:0:Name=bench-model", $"--Dispatcher:Models:0:Backends:0={replica}",
            "--Dispatcher:Capacity:UseMetrics=false", "--Dispatcher:MaxConcurrentLeasesPerBackend=1", "--Dispatcher:QueueTimeout=00:10:00",
            "--Dispatcher:Tokens:0:Name=bench", $"--Dispatcher:Tokens:0:Token={Overhead.Token}", "--Dispatcher:Tokens:0:Threshold=1000000");
        using var handler = new SocketsHttpHandler { EnableMultipleHttp2Connections = true, UseProxy = false };
        using var http = new HttpClient(handler)
        {
            BaseAddress = new Uri($"http://127.0.0.1:{port}"),
            DefaultRequestVersion = HttpVersion.Version20,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Timeout = Timeout.InfiniteTimeSpan,
        };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Overhead.Token);
        using var stop = new CancellationTokenSource();

        Task<HttpResponseMessage> Send(int maxTokens) => http.PostAsync("/v1/chat/completions",
            new StringContent($"{{\"model\":\"bench-model\",\"messages\":[{{\"role\":\"user\",\"content\":\"hi\"}}],\"max_tokens\":{maxTokens}}}", Encoding.UTF8, "application/json"), stop.Token);

        var holder = Send(1_000_000);
        await WaitForAsync(http, waiting: 0, inFlight: 1);
        // Warm up the same paths, then settle before the baseline.
        var warm = Enumerable.Range(0, 100).Select(_ => Send(1)).ToList();
        await WaitForAsync(http, waiting: 100, inFlight: 1);
        await stop.CancelAsync();
        await Task.WhenAll(warm.Append(holder).Select(t => t.ContinueWith(_ => { }, TaskScheduler.Default)));

        using var stop2 = new CancellationTokenSource();
        Task<HttpResponseMessage> Send2(int maxTokens) => http.PostAsync("/v1/chat/completions",
            new StringContent($"{{\"model\":\"bench-model\",\"messages\":[{{\"role\":\"user\",\"content\":\"hi\"}}],\"max_tokens\":{maxTokens}}}", Encoding.UTF8, "application/json"), stop2.Token);
        var holder2 = Send2(1_000_000);
        await WaitForAsync(http, waiting: 0, inFlight: 1);
        await Task.Delay(2000);
        var before = Processes.ResidentBytes(dispatcher);
        var waiting = new List<Task<HttpResponseMessage>>(count);
        for (var i = 0; i < count; i++)
        {
            waiting.Add(Send2(1));
        }

        await WaitForAsync(http, waiting: count, inFlight: 1);
        await Task.Delay(2000);
        var after = Processes.ResidentBytes(dispatcher);
        await stop2.CancelAsync();
        await Task.WhenAll(waiting.Append(holder2).Select(t => t.ContinueWith(_ => { }, TaskScheduler.Default)));
        var growth = after - before;
        return string.Create(CultureInfo.InvariantCulture,
            $"| {count:N0} | {after / 1048576.0:0} MiB | {growth / 1048576.0:0} MiB | {(count == 0 ? "-" : $"{(double)growth / count / 1024:0.0} KiB")} |");
    }

    private static async Task WaitForAsync(HttpClient http, int waiting, int inFlight)
    {
        for (var attempt = 0; attempt < 1200; attempt++)
        {
            var metrics = PrometheusTextParser.Parse(await http.GetStringAsync("/metrics"));
            if ((metrics.Sum("dispatcher_waiting") ?? 0) >= waiting && (metrics.Sum("dispatcher_in_flight") ?? 0) >= inFlight)
            {
                return;
            }

            await Task.Delay(100);
        }

        throw new TimeoutException($"never reached {waiting} waiting and {inFlight} in flight");
    }
}
