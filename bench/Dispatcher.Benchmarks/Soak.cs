using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using Dispatcher.Frontend;
using Dispatcher.Grains.Abstractions.Models;
using Dispatcher.Grains.Abstractions.Tokens;
using Dispatcher.Testing;
using Dispatcher.VllmEmulator;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Dispatcher.Benchmarks;

/// <summary>
/// A bounded soak on loopback: a real dispatcher in front of two emulated replicas, mixed traffic from 24 clients
/// (chat and completions, streamed or not, embeddings, bad requests), random client aborts, and one replica
/// killed and restarted half-way. Reports memory over time and the leases and counters left at the end.
/// </summary>
internal static class Soak
{
    private const string HighToken = "soak-high-token-0000000001";
    private const string LowToken = "soak-low-token-00000000002";

    public static async Task<string> RunAsync(TimeSpan duration)
    {
        await using var first = await EmulatorServer.StartAsync(new EmulatorOptions { ModelName = "soak-model", StepBase = TimeSpan.FromMilliseconds(3), DefaultCompletionTokens = 16 });
        await using var second = await EmulatorServer.StartAsync(new EmulatorOptions { ModelName = "soak-model", StepBase = TimeSpan.FromMilliseconds(3), DefaultCompletionTokens = 16 });
        var builder = WebApplication.CreateBuilder();
        builder.Logging.ClearProviders();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["urls"] = "http://127.0.0.1:0",
            ["Dispatcher:Models:0:Name"] = "soak-model",
            ["Dispatcher:Models:0:Backends:0"] = first.BaseAddress.AbsoluteUri,
            ["Dispatcher:Models:0:Backends:1"] = second.BaseAddress.AbsoluteUri,
            ["Dispatcher:Models:0:MaxConcurrentLeasesPerBackend"] = "8",
            ["Dispatcher:QueueTimeout"] = "00:00:10",
            ["Dispatcher:Cluster:SiloPort"] = FreePort.Next().ToString(CultureInfo.InvariantCulture),
            ["Dispatcher:Cluster:GatewayPort"] = FreePort.Next().ToString(CultureInfo.InvariantCulture),
            ["Dispatcher:Capacity:MaxProbeBackoff"] = "00:00:02",
            ["Dispatcher:Tokens:0:Name"] = "high",
            ["Dispatcher:Tokens:0:Token"] = HighToken,
            ["Dispatcher:Tokens:0:Priority"] = "10",
            ["Dispatcher:Tokens:0:Threshold"] = "50",
            ["Dispatcher:Tokens:1:Name"] = "low",
            ["Dispatcher:Tokens:1:Token"] = LowToken,
            ["Dispatcher:Tokens:1:Priority"] = "1",
            ["Dispatcher:Tokens:1:Threshold"] = "50",
        });
        builder.AddDispatcherFrontend();
        await using var app = builder.Build();
        app.MapDispatcherFrontend();
        await app.StartAsync();
        using var http = new HttpClient { BaseAddress = new Uri(app.Urls.First()), Timeout = TimeSpan.FromSeconds(30) };

        var clock = Stopwatch.StartNew();
        using var stop = new CancellationTokenSource(duration);
        var counts = new long[3]; // completed, aborted, failed
        var samples = new List<string>();
        var clients = Enumerable.Range(0, 24).Select(c => Task.Run(async () =>
        {
            var random = new Random(1000 + c);
            while (!stop.IsCancellationRequested)
            {
                Interlocked.Increment(ref counts[await OneAsync(http, random)]);
            }
        })).ToList();

        var restarted = false;
        while (!stop.IsCancellationRequested)
        {
            await Task.Delay(TimeSpan.FromSeconds(Math.Max(1, duration.TotalSeconds / 12)), CancellationToken.None);
            if (!restarted && clock.Elapsed >= duration / 2)
            {
                restarted = true;
                await second.StopAsync();
                await Task.Delay(TimeSpan.FromSeconds(2));
                await second.RestartAsync();
            }

            GC.Collect();
            samples.Add(string.Create(CultureInfo.InvariantCulture,
                $"| {clock.Elapsed.TotalSeconds:0} | {Environment.WorkingSet / 1024.0 / 1024.0:0} MiB | {GC.GetTotalMemory(false) / 1024.0 / 1024.0:0.0} MiB | {Interlocked.Read(ref counts[0])} | {Interlocked.Read(ref counts[1])} | {Interlocked.Read(ref counts[2])} |"));
        }

        await Task.WhenAll(clients);
        var grains = app.Services.GetRequiredService<IGrainFactory>();
        var (waiting, inFlight, tokenCounts) = (0, 0, 0);
        for (var attempt = 0; attempt < 100; attempt++)
        {
            var snapshot = await grains.GetGrain<IModelGrain>("soak-model").GetSnapshotAsync(CancellationToken.None);
            var high = await grains.GetGrain<ITokenGrain>(TokenHash.Compute(HighToken)).GetCountersAsync(CancellationToken.None);
            var low = await grains.GetGrain<ITokenGrain>(TokenHash.Compute(LowToken)).GetCountersAsync(CancellationToken.None);
            (waiting, inFlight, tokenCounts) = (snapshot.Waiting, snapshot.InFlight, high.Waiting + high.InFlight + low.Waiting + low.InFlight);
            if (waiting + inFlight + tokenCounts == 0)
            {
                break;
            }

            await Task.Delay(100);
        }

        await app.StopAsync();
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"Duration {duration.TotalSeconds:0} s, 24 clients, replica 2 killed and restarted at {duration.TotalSeconds / 2:0} s. Memory is the whole process (dispatcher, its two emulated replicas and the load), sampled after a collection.");
        text.AppendLine();
        text.AppendLine("| at (s) | working set | managed heap | completed | aborted by the client | failed (expected around the kill) |");
        text.AppendLine("| ---: | ---: | ---: | ---: | ---: | ---: |");
        samples.ForEach(s => text.AppendLine(s));
        text.AppendLine();
        text.AppendLine(CultureInfo.InvariantCulture, $"After the run: {waiting} waiting, {inFlight} leases in flight, {tokenCounts} token counts left (leaked leases: {waiting + inFlight + tokenCounts}).");
        return text.ToString();
    }

    /// <summary>One request of the mix: 0 completed (any status), 1 aborted on purpose, 2 failed (connection).</summary>
    private static async Task<int> OneAsync(HttpClient http, Random random)
    {
        var (path, body) = random.Next(10) switch
        {
            0 => ("/v1/embeddings", "{\"model\":\"soak-model\",\"input\":\"some text\"}"),
            1 => ("/v1/completions", $"{{\"model\":\"soak-model\",\"prompt\":\"hi\",\"max_tokens\":{random.Next(1, 40)},\"stream\":true}}"),
            2 => ("/v1/chat/completions", "{\"model\":\"soak-model\",\"messages\":"),
            3 => ("/v1/chat/completions", "{\"model\":\"other-model\",\"messages\":[]}"),
            _ => ("/v1/chat/completions", $"{{\"model\":\"soak-model\",\"messages\":[{{\"role\":\"user\",\"content\":\"hello\"}}],\"max_tokens\":{random.Next(1, 60)},\"stream\":{(random.Next(2) == 0 ? "true" : "false")}}}"),
        };
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", random.Next(4) == 0 ? HighToken : LowToken);
        using var abort = new CancellationTokenSource(random.Next(10) == 0 ? TimeSpan.FromMilliseconds(random.Next(5, 200)) : TimeSpan.FromSeconds(30));
        try
        {
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, abort.Token);
            await response.Content.CopyToAsync(Stream.Null, abort.Token);
            return 0;
        }
        catch (OperationCanceledException)
        {
            return 1;
        }
        catch (Exception exception) when (exception is HttpRequestException or IOException)
        {
            return 2;
        }
    }
}
