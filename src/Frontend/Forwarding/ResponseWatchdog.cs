using System.Text;
using Microsoft.AspNetCore.Http.Features;

namespace Dispatcher.Frontend.Forwarding;

/// <summary>
/// Guards one forwarded answer. The forwarder sees a request-aborted token that this watchdog can also cancel:
/// when a streamed (SSE) answer has been silent for <c>StreamStallTimeout</c>, or any answer has run for
/// <c>MaxResponseDuration</c>, the client gets a final error event and <c>[DONE]</c>, then the upstream request is
/// aborted (so vLLM stops) and the lease is released by the caller. Dispose it to restore the request.
/// </summary>
internal sealed class ResponseWatchdog : IDisposable
{
    private readonly HttpContext _context;
    private readonly UsageMeter _meter;
    private readonly IHttpRequestLifetimeFeature _original;
    private readonly CancellationTokenSource _cancel;
    private readonly ITimer _timer;
    private readonly TimeProvider _time;
    private readonly TimeSpan _stall;
    private readonly TimeSpan _max;
    private readonly long _started;
    private int _fired;

    public ResponseWatchdog(HttpContext context, UsageMeter meter, ForwardingOptions options, TimeProvider time)
    {
        _context = context;
        _meter = meter;
        _original = context.Features.GetRequiredFeature<IHttpRequestLifetimeFeature>();
        _cancel = CancellationTokenSource.CreateLinkedTokenSource(_original.RequestAborted);
        _time = time;
        _stall = options.StreamStallTimeout;
        _max = options.MaxResponseDuration;
        _started = time.GetTimestamp();
        context.Features.Set<IHttpRequestLifetimeFeature>(new Lifetime(_original, _cancel.Token));
        var period = TimeSpan.FromMilliseconds(Math.Clamp(_stall.TotalMilliseconds / 4, 50, 1000));
        _timer = time.CreateTimer(_ => _ = CheckAsync(), null, period, period);
    }

    /// <summary>Why the dispatcher ended the answer, or null when it did not.</summary>
    public string? EndedBecause { get; private set; }

    public void Dispose()
    {
        _timer.Dispose();
        _context.Features.Set(_original);
        _cancel.Dispose();
    }

    private async Task CheckAsync()
    {
        var response = _context.Response;
        var streaming = response.HasStarted && response.ContentType?.StartsWith("text/event-stream", StringComparison.OrdinalIgnoreCase) == true;
        string? reason = null;
        if (_time.GetElapsedTime(_started) >= _max)
        {
            reason = "The answer ran longer than the dispatcher allows and was ended.";
        }
        else if (streaming && _time.GetElapsedTime(_meter.LastWrite) >= _stall)
        {
            reason = "The model server stopped sending tokens; the answer was ended.";
        }

        if (reason is null || Interlocked.Exchange(ref _fired, 1) == 1)
        {
            return;
        }

        EndedBecause = reason;
        try
        {
            if (streaming)
            {
                var message = System.Text.Json.JsonSerializer.Serialize(reason);
                var finalEvent = $"data: {{\"error\": {{\"message\": {message}, \"type\": \"server_error\", \"param\": null, \"code\": \"upstream_stalled\"}}}}\n\ndata: [DONE]\n\n";
                await _meter.EndWithEventAsync(Encoding.UTF8.GetBytes(finalEvent), _original.RequestAborted);
            }
        }
        catch (Exception exception) when (exception is IOException or OperationCanceledException or ObjectDisposedException)
        {
            // the client left meanwhile: nothing more to tell it
        }
        finally
        {
            await _cancel.CancelAsync();
        }
    }

    /// <summary>The request's lifetime with a token the watchdog can cancel too; aborting still aborts the real request.</summary>
    private sealed class Lifetime(IHttpRequestLifetimeFeature original, CancellationToken aborted) : IHttpRequestLifetimeFeature
    {
        public CancellationToken RequestAborted
        {
            get => aborted;
            set => original.RequestAborted = value;
        }

        public void Abort() => original.Abort();
    }
}
