using System.Collections.Concurrent;
using System.Net;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;

namespace Dispatcher.Frontend.Tests.Telemetry;

public sealed class OtlpExportTests
{
    [Fact]
    public async Task OtlpEndpointConfigured_PushesMetricsAndTraces()
    {
        var received = new ConcurrentBag<string>();
        var collector = WebApplication.CreateSlimBuilder();
        collector.Logging.ClearProviders();
        collector.WebHost.UseUrls("http://127.0.0.1:0");
        await using var collectorApp = collector.Build();
        collectorApp.MapPost("/v1/{signal}", async (string signal, HttpRequest request) =>
        {
            using var body = new MemoryStream();
            await request.Body.CopyToAsync(body);
            if (body.Length > 0 && request.ContentType == "application/x-protobuf")
            {
                received.Add(signal);
            }

            return Results.Ok();
        });
        await collectorApp.StartAsync();

        var host = await DispatcherHost.StartAsync(settings: new()
        {
            ["Dispatcher:Telemetry:OtlpEndpoint"] = collectorApp.Urls.First(),
            ["Dispatcher:Telemetry:ExportInterval"] = "00:00:00.500",
        });
        await using (host)
        {
            using var response = await host.CreateClient().PostAsync("/v1/chat/completions", DispatcherHost.Json(DispatcherHost.Chat(maxTokens: 2)));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        // Stopping the host flushes what is pending.
        Assert.Contains("metrics", received);
        Assert.Contains("traces", received);
    }
}
