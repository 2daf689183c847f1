using System.Net;
using Dispatcher.Testing;
using Dispatcher.VllmEmulator;

namespace Dispatcher.Frontend.Tests.Forwarding;

/// <summary>Replicas that stall, cut or never end a stream: the client hears about it and no lease is left behind.</summary>
public sealed class BrokenPeerTests
{
    /// <summary>Streams a chat and returns every byte that arrived, whether the stream ended well or was cut.</summary>
    private static async Task<string> StreamAsync(DispatcherHost host, int maxTokens = 50)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = DispatcherHost.Json(DispatcherHost.Chat(stream: true, maxTokens: maxTokens)) };
        using var response = await host.CreateClient().SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var received = new MemoryStream();
        try
        {
            await using var stream = await response.Content.ReadAsStreamAsync();
            await stream.CopyToAsync(received);
        }
        catch (Exception exception) when (exception is IOException or HttpRequestException)
        {
            // the connection ended without its last chunk: keep what came before
        }

        return System.Text.Encoding.UTF8.GetString(received.ToArray());
    }

    [Fact]
    public async Task UpstreamStallsMidStream_ClientGetsAnErrorEventAndDoneAndTheLeaseIsReleased()
    {
        await using var host = await DispatcherHost.StartAsync(settings: new() { ["Dispatcher:Forwarding:StreamStallTimeout"] = "00:00:01" });
        host.Replicas[0].Faults.Set(new FaultPlan(StallAfterTokens: 3));

        var body = await StreamAsync(host);

        var events = body.Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains(events, e => e.Contains("\"code\": \"upstream_stalled\"", StringComparison.Ordinal));
        Assert.Contains("data: [DONE]", body, StringComparison.Ordinal);
        await host.AssertDrainedAsync();
        await Eventually.TrueAsync(() => host.Replicas[0].Engine.Stats().Aborted == 1, () => "the stalled upstream request was not aborted");
    }

    [Fact]
    public async Task StreamNeverEnds_EndedAtTheMaximumDuration()
    {
        await using var host = await DispatcherHost.StartAsync(emulator: o => o.StepBase = TimeSpan.FromMilliseconds(20),
            settings: new() { ["Dispatcher:Forwarding:MaxResponseDuration"] = "00:00:01" });

        var body = await StreamAsync(host, maxTokens: 100_000);

        Assert.Contains("upstream_stalled", body, StringComparison.Ordinal);
        Assert.Contains("data: [DONE]", body, StringComparison.Ordinal);
        await host.AssertDrainedAsync();
    }

    [Fact]
    public async Task UpstreamCutsMidStream_LeaseReleasedAndTheNextRequestServed()
    {
        await using var host = await DispatcherHost.StartAsync();
        host.Replicas[0].Faults.Set(new FaultPlan(CutAfterTokens: 3));

        var body = await StreamAsync(host);

        Assert.DoesNotContain("[DONE]", body, StringComparison.Ordinal);
        await host.AssertDrainedAsync();
        using var next = await host.CreateClient().PostAsync("/v1/chat/completions", DispatcherHost.Json(DispatcherHost.Chat()));
        Assert.Equal(HttpStatusCode.OK, next.StatusCode);
    }

    [Fact]
    public async Task UpstreamSendsGarbage_ForwardedAsIsAndNothingLeaks()
    {
        await using var host = await DispatcherHost.StartAsync();
        host.Replicas[0].Faults.Set(new FaultPlan(Status: 200, Body: "\u0001\u0002 not json at all {{{"));

        using var response = await host.CreateClient().PostAsync("/v1/chat/completions", DispatcherHost.Json(DispatcherHost.Chat()));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("\u0001\u0002 not json at all {{{", await response.Content.ReadAsStringAsync());
        await host.AssertDrainedAsync();
    }
}
