using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Dispatcher.Testing;
using Dispatcher.VllmEmulator;

namespace Dispatcher.Cluster.Tests;

/// <summary>
/// vLLM replicas failing under streaming load on the cluster (two silos, two Frontends): one killed and restarted,
/// one stalling mid-stream. Clients hear about the streams that broke, every other request is served once, the
/// restarted replica serves again, and nothing stays held.
/// </summary>
public sealed class ReplicaFaultTests
{
    [Fact]
    public async Task ReplicaKilledAndRestartedAndOneStalling_UnderLoad_ClientsHearAboutItAndNothingIsLeftHeld()
    {
        await using var fleet = await Fleet.StartAsync(2, 2, "--Dispatcher:Forwarding:StreamStallTimeout=00:00:01");
        var outcomes = new ConcurrentBag<string>();
        using var stop = new CancellationTokenSource();
        var clients = Enumerable.Range(0, 8).Select(c => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                outcomes.Add(await StreamAsync(fleet.Frontends[c % 2]));
            }
        })).ToList();

        await Task.Delay(TimeSpan.FromSeconds(2));
        var (killed, stalling) = (fleet.Replicas[0], fleet.Replicas[1]);
        stalling.Faults.Set(new FaultPlan(Count: 2, StallAfterTokens: 3));
        await killed.StopAsync();
        // Bad requests and clients going away mid-stream, mixed in once the load took the two stalls (not the noise).
        await Eventually.TrueAsync(() => !stalling.Faults.Pending, () => "the stalling replica was not asked twice");
        var noise = fleet.Noise(stop.Token);
        await Task.Delay(TimeSpan.FromSeconds(3));
        var servedBefore = killed.RequestIds.Count;
        await killed.RestartAsync();
        var restarted = Stopwatch.StartNew();
        await Eventually.TrueAsync(() => killed.RequestIds.Count > servedBefore, () => "the restarted replica was never used again");
        var servingAgain = restarted.Elapsed;
        await Task.Delay(TimeSpan.FromSeconds(2));
        await stop.CancelAsync();
        await Task.WhenAll(clients).WaitAsync(TimeSpan.FromSeconds(60));
        await fleet.WaitAsync(noise);

        var counts = outcomes.GroupBy(o => o.Split(' ')[0]).ToDictionary(g => g.Key, g => g.Count());
        var unexpected = outcomes.Where(o => o is not ("ok" or "stalled" or "cut" or "upstream_failed")).ToList();
        Assert.True(unexpected.Count == 0, $"{unexpected.Count} unexpected answers: {string.Join(" | ", unexpected.Take(5))}{Environment.NewLine}{fleet.Logs()}");
        var summary = string.Join(", ", counts.Select(c => $"{c.Key} {c.Value}"));
        Assert.True(counts.GetValueOrDefault("stalled") == 2, $"the two streams the replica stalled must end by the watchdog: {summary}{Environment.NewLine}{fleet.Logs()}");
        // At most the killed replica's four leases: cut mid-stream, or answered 502 when it died before its first byte.
        Assert.True(counts.GetValueOrDefault("cut") + counts.GetValueOrDefault("upstream_failed") <= 4, summary);
        Assert.True(counts.GetValueOrDefault("ok") > 20, $"hardly anything served: {summary}");
        var ids = fleet.Replicas.SelectMany(r => r.RequestIds).ToList();
        Assert.Equal(ids.Count, ids.Distinct(StringComparer.Ordinal).Count()); // none sent twice
        fleet.AssertNoiseAnswered();
        await Fleet.AssertNothingHeldAsync(fleet.Silos[0], TimeSpan.FromSeconds(30));

        var report = string.Create(CultureInfo.InvariantCulture,
            $"replica faults: {outcomes.Count} requests, {counts.GetValueOrDefault("ok")} served, {counts.GetValueOrDefault("cut")} cut by the kill, {counts.GetValueOrDefault("upstream_failed")} answered 502 by it, {counts.GetValueOrDefault("stalled")} stalled (error event), none twice, nothing held; the restarted replica served again {servingAgain.TotalSeconds:0.0} s after it came back; mixed in: bad requests (each got its 4xx) and {fleet.Abandoned} streams abandoned by their clients");
        await File.WriteAllTextAsync(Path.Combine(AppContext.BaseDirectory, "replica-faults-report.txt"), report + Environment.NewLine);
    }

    /// <summary>
    /// One streamed chat completion: "ok" (complete), "stalled" (ended by the stall watchdog's error event), "cut" (the
    /// stream broke off: no <c>[DONE]</c>, or the connection reset before its headers), "upstream_failed" (a 502 in the OpenAI shape naming the replica's failure),
    /// or the status and body of anything else.
    /// </summary>
    private static async Task<string> StreamAsync(Fleet.Frontend frontend)
    {
        using var http = new HttpClient { BaseAddress = new Uri(frontend.Address), Timeout = TimeSpan.FromSeconds(60) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Fleet.Token);
        using var content = new StringContent($"{{\"model\":\"{Fleet.Model}\",\"messages\":[{{\"role\":\"user\",\"content\":\"Hello\"}}],\"max_tokens\":8,\"stream\":true}}", Encoding.UTF8, "application/json");
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = content };
        HttpResponseMessage response;
        try
        {
            response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        }
        catch (HttpRequestException)
        {
            // The Frontend cut the connection before the client read a byte: the replica died after its answer began, and
            // the headers the Frontend had written went down with the connection's abort.
            return "cut";
        }

        using var _ = response;
        var status = response.StatusCode;
        var received = new MemoryStream();
        try
        {
            await using var stream = await response.Content.ReadAsStreamAsync();
            await stream.CopyToAsync(received);
        }
        catch (Exception exception) when (exception is HttpRequestException or IOException)
        {
            // the Frontend ended the connection after what it could tell (an error event), or cut it: keep what came
        }

        var body = Encoding.UTF8.GetString(received.ToArray());

        return status == HttpStatusCode.BadGateway && body.Contains("\"code\":\"upstream_", StringComparison.Ordinal) ? "upstream_failed"
            : status != HttpStatusCode.OK ? $"{(int)status} {body}"
            : body.Contains("\"code\": \"upstream_stalled\"", StringComparison.Ordinal) ? "stalled"
            : body.Contains("data: [DONE]", StringComparison.Ordinal) ? "ok"
            : "cut";
    }
}
