using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Dispatcher.Testing;

namespace Dispatcher.Frontend.Tests.Fuzz;

/// <summary>
/// Thousands of seeded, mutated requests (methods, paths, encodings, headers, bodies, aborts at random points)
/// against a real dispatcher in front of emulated replicas. Whatever arrives: no 500 from our code, the process
/// stays healthy, and afterwards every waiting and in-flight counter and every lease is back to zero.
/// </summary>
[Collection(TimingSensitive.Name)]
public sealed class FuzzTests
{
    private const int Seed = 20261122;
    private const int Requests = 2000;
    private const int Concurrency = 16;

    private static readonly string[] Routes = ["/v1/chat/completions", "/v1/chat/completions", "/v1/chat/completions", "/v1/chat/completions", "/v1/completions", "/v1/completions", "/v1/embeddings", "/v1/models", "/v1/models/test-model", "/v1/responses"];
    private static readonly string[] PathJunk = ["/%2e%2e", "/..", "//", "/%2f", "\\", "/%00", "/%ZZ", "/ünïcødé", "/" + new string('a', 300), "?x=%", "?stream=true", "/;/", "/%5c..%5c"];
    private static readonly string[] Methods = [.. Enumerable.Repeat("POST", 20), "GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"];

    [Theory]
    [InlineData(false)] // the embedded default: the Frontend co-hosts its silo
    [InlineData(true)] // the Frontend as an Orleans client of a silo, tokens in PostgreSQL
    public async Task MutatedRequests_NeverA500_HealthyAndNothingLeaks(bool asClient)
    {
        await using var host = await DispatcherHost.StartAsync(replicas: 2, capacity: 3, asClient: asClient, settings: new()
        {
            ["Dispatcher:Auth:MaxFailedAttemptsPerMinute"] = "0",
            ["Dispatcher:Forwarding:MaxRequestBodySize"] = "65536",
            ["Dispatcher:QueueTimeout"] = "00:00:05",
            ["Dispatcher:Tokens:0:Threshold"] = "50",
            ["Dispatcher:Tokens:1:Threshold"] = "50",
        });
        var failures = new ConcurrentQueue<string>();
        var statuses = new ConcurrentDictionary<int, int>();
        var next = -1;
        using var deadline = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        using var handler = new SocketsHttpHandler { UseCookies = false, AllowAutoRedirect = false };
        using var http = new HttpClient(handler) { BaseAddress = host.BaseAddress, Timeout = Timeout.InfiniteTimeSpan };

        var workers = Enumerable.Range(0, Concurrency).Select(_ => Task.Run(async () =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < Requests && !deadline.IsCancellationRequested)
            {
                var random = new Random(Seed + (i * 7919)); // request i is the same in every run
                var (status, body) = random.Next(5) == 0
                    ? await SendRawAsync(host.BaseAddress, Raw(random))
                    : await SendAsync(http, random);
                statuses.AddOrUpdate(status, 1, (_, n) => n + 1);
                if (status == 500 || status == 0 && body.StartsWith("error:", StringComparison.Ordinal))
                {
                    failures.Enqueue($"request {i}: {status} {body[..Math.Min(body.Length, 300)]}");
                }
            }
        })).ToList();
        await Task.WhenAll(workers);

        Assert.True(failures.IsEmpty, string.Join(Environment.NewLine, failures.Take(20)));
        Assert.Equal(Requests, statuses.Values.Sum());
        Assert.True(statuses.Keys.Count(s => s >= 400) >= 6, $"the fuzz hardly reached any error path: {string.Join(", ", statuses.OrderBy(p => p.Key))}");
        Assert.True(statuses.GetValueOrDefault(200) > 25, $"the fuzz hardly reached a replica: {string.Join(", ", statuses.OrderBy(p => p.Key))}");
        using (var ready = await http.GetAsync("/health/ready"))
        {
            Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        }

        await host.AssertDrainedAsync();
        await Eventually.TrueAsync(() => host.Replicas.TrueForAll(r => r.Engine.Stats().Running == 0 && r.Engine.Stats().Waiting == 0),
            () => "a replica still runs an abandoned request");
        var metrics = Dispatcher.Grains.Metrics.PrometheusTextParser.Parse(await http.GetStringAsync("/metrics"));
        Assert.Equal(0, metrics.Sum("dispatcher_waiting") ?? 0);
        Assert.Equal(0, metrics.Sum("dispatcher_in_flight") ?? 0);
        Assert.Equal(asClient, metrics.Sum("dispatcher_waiting") is null); // a client's grains (and their gauges) are in the silo
    }

    /// <summary>One mutated request through HttpClient; status 0 means the client aborted on purpose.</summary>
    private static async Task<(int Status, string Body)> SendAsync(HttpClient http, Random random)
    {
        var method = Methods[random.Next(Methods.Length)];
        var path = Routes[random.Next(Routes.Length)] + (random.Next(6) == 0 ? Uri.EscapeDataString(PathJunk[random.Next(PathJunk.Length)]) : "");
        using var request = new HttpRequestMessage(new HttpMethod(method), path);
        var token = random.Next(16) switch
        {
            0 => null,
            1 => "sk-" + random.Next(),
            2 => DispatcherHost.LowToken,
            _ => DispatcherHost.HighToken,
        };
        if (token is not null)
        {
            request.Headers.TryAddWithoutValidation("Authorization", random.Next(12) == 0 ? $"Basic {token}" : $"Bearer {token}");
        }

        if (method is "POST" or "PUT" or "PATCH")
        {
            var content = new ByteArrayContent(Body(random));
            content.Headers.TryAddWithoutValidation("Content-Type", random.Next(10) switch
            {
                0 => "text/plain",
                1 => "application/json; charset=utf-8",
                2 => "multipart/form-data; boundary=x",
                3 => "application/jsonx",
                _ => "application/json",
            });
            request.Content = content;
        }

        for (var h = random.Next(4); h > 0; h--)
        {
            request.Headers.TryAddWithoutValidation($"X-Fuzz-{random.Next(1000)}", new string((char)random.Next(33, 126), random.Next(1, 200)));
        }

        if (random.Next(10) == 0)
        {
            request.Headers.TryAddWithoutValidation("X-Request-Id", "dup-" + random.Next(3));
        }

        using var abort = new CancellationTokenSource(random.Next(8) == 0 ? TimeSpan.FromMilliseconds(random.Next(1, 80)) : TimeSpan.FromSeconds(20));
        try
        {
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, abort.Token);
            var buffer = new byte[1024];
            await using var stream = await response.Content.ReadAsStreamAsync(abort.Token);
            var builder = new StringBuilder();
            int read;
            while ((read = await stream.ReadAsync(buffer, abort.Token)) > 0)
            {
                builder.Append(Encoding.UTF8.GetString(buffer, 0, read));
                if (random.Next(40) == 0)
                {
                    return (0, "aborted mid-answer"); // leave while streaming
                }
            }

            return ((int)response.StatusCode, builder.ToString());
        }
        catch (OperationCanceledException)
        {
            return (0, "aborted");
        }
        catch (HttpRequestException exception)
        {
            return (0, $"connection: {exception.Message}");
        }
    }

    private static byte[] Body(Random random)
    {
        var model = random.Next(10) switch
        {
            0 => "\"no-such-model\"",
            1 => "42",
            2 => "null",
            3 => "\"test\\u0000model\"",
            4 => $"\"{new string('m', random.Next(200, 400))}\"",
            _ => "\"test-model\"",
        };
        var json = random.Next(9) switch
        {
            0 => $"{{\"model\":{model},\"prompt\":\"hi\",\"max_tokens\":{random.Next(1, 20)},\"stream\":{(random.Next(2) == 0 ? "true" : "false")}}}",
            1 => $"{{\"model\":{model},\"input\":[\"a\",\"b\"]}}",
            2 => $"{{\"model\":{model},\"model\":\"test-model\",\"messages\":[]}}",
            3 => $"{{\"model\":{model},\"messages\":[{{\"role\":\"user\",\"content\":\"x\"}}],\"priority\":{(random.Next(3) == 0 ? "\"high\"" : random.Next(-5, 1500).ToString(System.Globalization.CultureInfo.InvariantCulture))}}}",
            4 => $"{{\"model\":{model},\"messages\":" + new string('[', random.Next(10, 200)) + new string(']', random.Next(10, 200)) + "}",
            5 => $"{{\"model\":{model},\"messages\":[{{\"role\":\"user\",\"content\":\"{new string('x', random.Next(1000, 90_000))}\"}}]}}",
            _ => $"{{\"model\":{model},\"messages\":[{{\"role\":\"user\",\"content\":\"hello\"}}],\"max_tokens\":{random.Next(1, 30)},\"stream\":{(random.Next(2) == 0 ? "true" : "false")}{(random.Next(4) == 0 ? ",\"stream_options\":{\"include_usage\":true}" : "")}}}",
        };
        var bytes = Encoding.UTF8.GetBytes(json);
        switch (random.Next(8))
        {
            case 0:
                return bytes[..random.Next(bytes.Length)]; // truncated
            case 1:
                bytes[random.Next(bytes.Length)] = (byte)random.Next(256); // one random byte, maybe not UTF-8
                return bytes;
            case 2:
                var noise = new byte[random.Next(0, 2000)];
                random.NextBytes(noise);
                return noise;
            default:
                return bytes;
        }
    }

    /// <summary>A request written by hand, for what HttpClient would refuse to send.</summary>
    private static string Raw(Random random)
    {
        var path = random.Next(3) == 0 ? PathJunk[random.Next(PathJunk.Length)] : Routes[random.Next(Routes.Length)] + PathJunk[random.Next(PathJunk.Length)];
        var body = "{\"model\":\"test-model\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":2}";
        var auth = random.Next(3) == 0 ? "Authorization: Bearer\r\n" : $"Authorization: Bearer {DispatcherHost.HighToken}\r\n";
        var length = random.Next(5) == 0 ? $"Content-Length: {random.Next(0, 500)}\r\n" : $"Content-Length: {Encoding.UTF8.GetByteCount(body)}\r\n";
        return $"POST {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\n{length}Connection: close\r\n\r\n{body}";
    }

    private static async Task<(int Status, string Body)> SendRawAsync(Uri server, string request)
    {
        try
        {
            using var client = new TcpClient();
            await client.ConnectAsync(server.Host, server.Port);
            var stream = client.GetStream();
            await stream.WriteAsync(Encoding.UTF8.GetBytes(request));
            using var reader = new StreamReader(stream, Encoding.UTF8);
            var answer = await reader.ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(20));
            var status = answer.Length >= 12 && int.TryParse(answer.AsSpan(9, 3), out var code) ? code : 0;
            return (status, answer);
        }
        catch (Exception exception) when (exception is IOException or SocketException or TimeoutException)
        {
            return (0, $"connection: {exception.Message}");
        }
    }
}
