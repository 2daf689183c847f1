using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;

namespace Dispatcher.LoadDriver;

/// <summary>Sends OpenAI requests and times them: latency, first byte, per-request token rate, status.</summary>
public static class LoadRunner
{
    private static readonly byte[] DataPrefix = "data: {"u8.ToArray();

    public static async Task<LoadResult> RunAsync(LoadOptions options, CancellationToken cancellationToken = default)
    {
        if (!IPAddress.TryParse(options.BaseAddress.Host, out var ip) ? options.BaseAddress.Host != "localhost" : !IPAddress.IsLoopback(ip))
        {
            throw new ArgumentException("The load driver only targets loopback addresses.", nameof(options));
        }

        using var handler = new SocketsHttpHandler { UseProxy = false, MaxConnectionsPerServer = int.MaxValue, PooledConnectionIdleTimeout = TimeSpan.FromSeconds(4) };
        using var http = new HttpClient(handler) { BaseAddress = options.BaseAddress, Timeout = TimeSpan.FromMinutes(5) };
        var body = Body(options);
        var result = new LoadResult();
        var gate = new Lock();
        var clock = Stopwatch.StartNew();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        stop.CancelAfter(options.Duration);
        var started = 0;

        async Task OneAsync()
        {
            var (latency, firstByte, rate, status) = await SendAsync(http, options, body, stop.Token);
            lock (gate)
            {
                if (status == 0 && stop.IsCancellationRequested)
                {
                    return; // cut by the end of the run, not a failure
                }

                if (status == 0)
                {
                    result.Errors++;
                    return;
                }

                result.Statuses[status] = result.Statuses.GetValueOrDefault(status) + 1;
                result.Latencies.Add(latency);
                result.FirstBytes.Add(firstByte);
                if (rate is { } r)
                {
                    result.TokenRates.Add(r);
                }
            }
        }

        if (options.RatePerSecond is { } perSecond)
        {
            var running = new List<Task>();
            while (!stop.IsCancellationRequested && started < options.MaxRequests)
            {
                started++;
                running.Add(OneAsync());
                var due = TimeSpan.FromSeconds(started / perSecond) - clock.Elapsed;
                if (due > TimeSpan.Zero)
                {
                    try
                    {
                        await Task.Delay(due, stop.Token);
                    }
                    catch (OperationCanceledException)
                    {
                        break;
                    }
                }
            }

            await Task.WhenAll(running);
        }
        else
        {
            await Task.WhenAll(Enumerable.Range(0, options.Concurrency).Select(_ => Task.Run(async () =>
            {
                while (!stop.IsCancellationRequested && Interlocked.Increment(ref started) <= options.MaxRequests)
                {
                    await OneAsync();
                }
            }, CancellationToken.None)));
        }

        result.Elapsed = clock.Elapsed;
        return result;
    }

    private static string Body(LoadOptions options) => options.Route.EndsWith("/completions", StringComparison.Ordinal) && !options.Route.Contains("chat", StringComparison.Ordinal)
        ? $"{{\"model\":\"{options.Model}\",\"prompt\":\"Say something\",\"max_tokens\":{options.MaxTokens},\"stream\":{(options.Stream ? "true" : "false")}}}"
        : $"{{\"model\":\"{options.Model}\",\"messages\":[{{\"role\":\"user\",\"content\":\"Say something\"}}],\"max_tokens\":{options.MaxTokens},\"stream\":{(options.Stream ? "true" : "false")}}}";

    /// <summary>One request: latency and first byte in ms, decode rate (tokens/s), status; status 0 on a failure.</summary>
    private static async Task<(double Latency, double FirstByte, double? Rate, int Status)> SendAsync(HttpClient http, LoadOptions options, string body, CancellationToken cancellationToken)
    {
        var start = Stopwatch.GetTimestamp();
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, options.Route) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
            if (options.Token is not null)
            {
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", options.Token);
            }

            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
            await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
            var buffer = new byte[4096];
            double? firstByte = null;
            long firstEvent = 0, lastEvent = 0;
            var events = 0;
            int read;
            while ((read = await stream.ReadAsync(buffer, cancellationToken)) > 0)
            {
                var now = Stopwatch.GetTimestamp();
                firstByte ??= Stopwatch.GetElapsedTime(start, now).TotalMilliseconds;
                var span = buffer.AsSpan(0, read);
                for (var at = span.IndexOf(DataPrefix); at >= 0; at = span.IndexOf(DataPrefix))
                {
                    events++;
                    firstEvent = firstEvent == 0 ? now : firstEvent;
                    lastEvent = now;
                    span = span[(at + DataPrefix.Length)..];
                }
            }

            var latency = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            // Decode rate: content events after the first one, over the time between first and last event.
            double? rate = events >= 4 && lastEvent > firstEvent ? (events - 3) / Stopwatch.GetElapsedTime(firstEvent, lastEvent).TotalSeconds : null;
            return (latency, firstByte ?? latency, rate, (int)response.StatusCode);
        }
        catch (Exception exception) when (exception is HttpRequestException or IOException or OperationCanceledException)
        {
            return (0, 0, null, 0);
        }
    }
}
