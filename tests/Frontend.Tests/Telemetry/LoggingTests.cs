using System.Net;

namespace Dispatcher.Frontend.Tests.Telemetry;

public sealed class LoggingTests
{
    [Fact]
    public async Task Request_EveryLineItCausesCarriesItsRequestId()
    {
        await using var host = await DispatcherHost.StartAsync();
        var before = host.Logs.Entries.Count;

        using var response = await host.CreateClient().PostAsync("/v1/chat/completions", DispatcherHost.Json(DispatcherHost.Chat(maxTokens: 2)));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        await host.AssertDrainedAsync();

        var id = response.Headers.GetValues("X-Request-Id").Single();
        var lines = host.Logs.Entries.Skip(before)
            .Where(l => l.Category.StartsWith("Dispatcher.Frontend", StringComparison.Ordinal) || l.Category.StartsWith("Dispatcher.Grains.Models", StringComparison.Ordinal))
            .ToList();
        Assert.Contains(lines, l => l.Message.Contains("served by", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Message.Contains($"for request {id}", StringComparison.Ordinal));
        // The Frontend's lines carry the request's scope; a grain runs in a silo (maybe another process), so its lines
        // name the request in their text instead.
        Assert.All(lines.Where(l => l.Category.StartsWith("Dispatcher.Frontend", StringComparison.Ordinal)), l => Assert.Equal(id, l.Scopes.GetValueOrDefault("RequestId")));
        Assert.Contains(id, host.Replicas[0].LastRequestId, StringComparison.Ordinal);
    }
}
