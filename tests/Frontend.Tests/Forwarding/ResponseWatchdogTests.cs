using System.Text;
using Dispatcher.Frontend.Forwarding;
using Dispatcher.Testing;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Time.Testing;

namespace Dispatcher.Frontend.Tests.Forwarding;

/// <summary>The stall and maximum-duration limits of one forwarded answer, on a fake clock (no sockets).</summary>
public sealed class ResponseWatchdogTests
{
    private static readonly ForwardingOptions Options = new()
    {
        StreamStallTimeout = TimeSpan.FromSeconds(10),
        MaxResponseDuration = TimeSpan.FromSeconds(60),
    };

    [Fact]
    public async Task StreamSilentPastTheStallTimeout_EndedWithAFinalEventAndTheRequestCancelled()
    {
        var (context, client, time) = StartedStream();
        var meter = new UsageMeter(client, time);
        using var watchdog = new ResponseWatchdog(context, meter, Options, time);
        var aborted = context.RequestAborted;

        time.Advance(TimeSpan.FromSeconds(6));
        await meter.WriteAsync("data: {\"choices\":[]}\n\n"u8.ToArray()); // a chunk: the stall counts from here
        time.Advance(TimeSpan.FromSeconds(6));
        Assert.Null(watchdog.EndedBecause);
        Assert.False(aborted.IsCancellationRequested);

        time.Advance(TimeSpan.FromSeconds(5));
        await Eventually.TrueAsync(() => aborted.IsCancellationRequested, () => "the stalled stream was not ended");

        Assert.Contains("stopped sending tokens", watchdog.EndedBecause, StringComparison.Ordinal);
        var written = Encoding.UTF8.GetString(client.ToArray());
        Assert.Contains("\"code\": \"upstream_stalled\"", written, StringComparison.Ordinal);
        Assert.EndsWith("data: [DONE]\n\n", written, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnswerRunningPastTheMaximumDuration_EndedEvenWhileChunksFlow()
    {
        var (context, client, time) = StartedStream();
        var meter = new UsageMeter(client, time);
        using var watchdog = new ResponseWatchdog(context, meter, Options, time);
        var aborted = context.RequestAborted;

        for (var second = 0; second < 55; second += 5)
        {
            await meter.WriteAsync("data: {\"choices\":[]}\n\n"u8.ToArray());
            time.Advance(TimeSpan.FromSeconds(5));
        }

        await meter.WriteAsync("data: {\"choices\":[]}\n\n"u8.ToArray()); // 55 s: never silent for long
        Assert.Null(watchdog.EndedBecause);
        time.Advance(TimeSpan.FromSeconds(5));
        await Eventually.TrueAsync(() => aborted.IsCancellationRequested, () => "the long answer was not ended");

        Assert.Contains("ran longer than the dispatcher allows", watchdog.EndedBecause, StringComparison.Ordinal);
        Assert.EndsWith("data: [DONE]\n\n", Encoding.UTF8.GetString(client.ToArray()), StringComparison.Ordinal);
    }

    /// <summary>A request whose SSE response has started, writing into a memory stream, on a fake clock.</summary>
    private static (HttpContext Context, MemoryStream Client, FakeTimeProvider Time) StartedStream()
    {
        var context = new DefaultHttpContext();
        context.Response.ContentType = "text/event-stream";
        context.Features.Set<IHttpResponseFeature>(new StartedResponse(context.Response.Headers));
        context.Features.Set<IHttpRequestLifetimeFeature>(new HttpRequestLifetimeFeature());
        return (context, new MemoryStream(), new FakeTimeProvider());
    }

    private sealed class StartedResponse : HttpResponseFeature
    {
        public StartedResponse(IHeaderDictionary headers)
        {
            Headers = headers;
        }

        public override bool HasStarted => true;
    }
}
