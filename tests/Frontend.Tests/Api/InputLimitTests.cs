using System.Net;
using System.Text;
using System.Text.Json;

namespace Dispatcher.Frontend.Tests.Api;

/// <summary>Each input limit answers its exact status and OpenAI-shaped body, and nothing reaches a replica.</summary>
public sealed class InputLimitTests
{
    private static async Task AssertErrorAsync(HttpResponseMessage response, HttpStatusCode status, string code, string? param = null)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(status == response.StatusCode, $"expected {status}, got {response.StatusCode}: {body}");
        var error = JsonDocument.Parse(body).RootElement.GetProperty("error");
        Assert.Equal(code, error.GetProperty("code").GetString());
        if (param is not null)
        {
            Assert.Equal(param, error.GetProperty("param").GetString());
        }
    }

    [Theory]
    [InlineData("GET", "/v1/chat/completions", "POST")]
    [InlineData("PUT", "/v1/completions", "POST")]
    [InlineData("DELETE", "/v1/embeddings", "POST")]
    [InlineData("POST", "/v1/models", "GET")]
    [InlineData("DELETE", "/v1/models/test-model", "GET")]
    public async Task WrongMethod_Answers405WithAllow(string method, string path, string allow)
    {
        await using var host = await DispatcherHost.StartAsync();
        using var request = new HttpRequestMessage(new HttpMethod(method), path) { Content = DispatcherHost.Json(DispatcherHost.Chat()) };

        using var response = await host.CreateClient().SendAsync(request);

        await AssertErrorAsync(response, HttpStatusCode.MethodNotAllowed, "method_not_allowed");
        Assert.Equal(allow, string.Join(",", response.Content.Headers.Allow));
        Assert.DoesNotContain(host.Replicas[0].Requests, r => r.StartsWith("POST", StringComparison.Ordinal));
    }

    [Fact]
    public async Task InvalidUtf8_Answers400()
    {
        await using var host = await DispatcherHost.StartAsync();
        var bytes = Encoding.UTF8.GetBytes("{\"model\":\"test-model\",\"messages\":[{\"role\":\"user\",\"content\":\"XX\"}]}");
        var at = Array.IndexOf(bytes, (byte)'X');
        bytes[at] = 0xC3; // a lead byte followed by an ASCII byte: not UTF-8
        var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = new("application/json");

        using var response = await host.CreateClient().PostAsync("/v1/chat/completions", content);

        await AssertErrorAsync(response, HttpStatusCode.BadRequest, "invalid_json");
    }

    [Theory]
    [InlineData("test-model\\u0000", "control")]
    [InlineData("test\\nmodel", "control")]
    public async Task AbsurdModel_Answers400(string model, string _)
    {
        await using var host = await DispatcherHost.StartAsync();

        using var response = await host.CreateClient().PostAsync("/v1/chat/completions", DispatcherHost.Json($"{{\"model\":\"{model}\",\"messages\":[]}}"));

        await AssertErrorAsync(response, HttpStatusCode.BadRequest, "invalid_value", "model");
    }

    [Theory]
    [InlineData("/v1/%2e%2e/metrics")]
    [InlineData("/v1/../health")]
    [InlineData("/v1/..%2fmetrics")]
    [InlineData("/v1/..%5cmetrics")]
    [InlineData("/v1/..\\metrics")]
    [InlineData("//metrics")]
    [InlineData("/v1//..//metrics")]
    [InlineData("/V1/chat/completions")]
    [InlineData("/metrics/../v1/chat/completions%00")]
    public async Task HostilePath_NeverReachesAReplicaOutsideV1(string path)
    {
        await using var host = await DispatcherHost.StartAsync();
        var raw = $"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {DispatcherHost.HighToken}\r\nContent-Type: application/json\r\n"
            + $"Content-Length: {Encoding.UTF8.GetByteCount(DispatcherHost.Chat())}\r\nConnection: close\r\n\r\n{DispatcherHost.Chat()}";

        var answer = await DispatcherHost.SendRawAsync(host.BaseAddress, raw);

        Assert.Matches("^HTTP/1.1 (400|404|405) ", answer);
        Assert.DoesNotContain("vllm:", answer, StringComparison.Ordinal);
        Assert.DoesNotContain(host.Replicas[0].Requests, r => !r.StartsWith("GET /metrics", StringComparison.Ordinal) && !r.StartsWith("GET /health", StringComparison.Ordinal));
    }

    [Fact]
    public async Task TooManyHeaders_AnsweredByKestrelBeforeAnyWork()
    {
        await using var host = await DispatcherHost.StartAsync();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = DispatcherHost.Json(DispatcherHost.Chat()) };
        for (var i = 0; i < 150; i++)
        {
            request.Headers.TryAddWithoutValidation($"X-Extra-{i}", "x");
        }

        using var response = await host.CreateClient().SendAsync(request);

        Assert.Equal(HttpStatusCode.RequestHeaderFieldsTooLarge, response.StatusCode);
        Assert.Equal(0, host.Replicas[0].Engine.Stats().Received);
    }
}

public sealed class FailedAuthThrottlingTests
{
    [Fact]
    public async Task FailedAttempts_PastTheLimit_AddressGets429EvenWithAGoodToken()
    {
        await using var host = await DispatcherHost.StartAsync(settings: new() { ["Dispatcher:Auth:MaxFailedAttemptsPerMinute"] = "3" });
        for (var i = 0; i < 3; i++)
        {
            using var wrong = await host.CreateClient($"sk-guess-{i}").PostAsync("/v1/chat/completions", DispatcherHost.Json(DispatcherHost.Chat()));
            Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        }

        using var throttled = await host.CreateClient().PostAsync("/v1/chat/completions", DispatcherHost.Json(DispatcherHost.Chat()));

        Assert.Equal(HttpStatusCode.TooManyRequests, throttled.StatusCode);
        Assert.Equal("too_many_failed_attempts", JsonDocument.Parse(await throttled.Content.ReadAsStringAsync()).RootElement.GetProperty("error").GetProperty("code").GetString());
        Assert.InRange(int.Parse(throttled.Headers.GetValues("Retry-After").Single(), System.Globalization.CultureInfo.InvariantCulture), 1, 60);
        Assert.Equal(0, host.Replicas[0].Engine.Stats().Received);
    }
}
