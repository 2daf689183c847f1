using System.ClientModel;
using System.Net;
using System.Text.Json;
using OpenAI;
using OpenAI.Chat;
using OpenAI.Embeddings;

namespace Dispatcher.Frontend.Tests.Api;

/// <summary>The official OpenAI .NET client, pointed at the dispatcher, works unchanged.</summary>
public sealed class OpenAiClientTests
{
    private static OpenAIClientOptions Options(DispatcherHost host) =>
        new() { Endpoint = new Uri(host.BaseAddress, "/v1"), NetworkTimeout = TimeSpan.FromSeconds(20) };

    [Fact]
    public async Task CompleteChat_ThroughDispatcher_ReturnsTheReplicasAnswer()
    {
        await using var host = await DispatcherHost.StartAsync();
        var client = new ChatClient(DispatcherHost.Model, new ApiKeyCredential(DispatcherHost.HighToken), Options(host));

        ChatCompletion completion = await client.CompleteChatAsync([new UserChatMessage("Hello")], new ChatCompletionOptions { MaxOutputTokenCount = 5 });

        Assert.Equal("The quick brown fox jumps", completion.Content[0].Text);
        Assert.Equal(5, completion.Usage.OutputTokenCount);
        Assert.Equal(ChatFinishReason.Length, completion.FinishReason);
        Assert.Equal(1, host.Replicas[0].Engine.Stats().Completed);
        await host.AssertDrainedAsync();
        Assert.Equal(5, (await host.CountersAsync(DispatcherHost.HighToken)).CompletionTokens);
        host.AssertNoSecretLogged();
    }

    [Fact]
    public async Task CompleteChatStreaming_ThroughDispatcher_StreamsEveryTokenAndUsage()
    {
        await using var host = await DispatcherHost.StartAsync();
        var client = new ChatClient(DispatcherHost.Model, new ApiKeyCredential(DispatcherHost.LowToken), Options(host));

        var text = new System.Text.StringBuilder();
        var updates = 0;
        ChatTokenUsage? usage = null;
        await foreach (var update in client.CompleteChatStreamingAsync([new UserChatMessage("Hello")], new ChatCompletionOptions { MaxOutputTokenCount = 8 }))
        {
            updates++;
            foreach (var part in update.ContentUpdate)
            {
                text.Append(part.Text);
            }

            usage ??= update.Usage;
        }

        Assert.Equal("The quick brown fox jumps over the lazy", text.ToString());
        Assert.True(updates >= 8, $"only {updates} updates");
        Assert.Equal(8, usage?.OutputTokenCount);
        await host.AssertDrainedAsync();
        Assert.Equal(8, (await host.CountersAsync(DispatcherHost.LowToken)).CompletionTokens);
    }

    [Fact]
    public async Task GenerateEmbedding_ThroughDispatcher_ReturnsVector()
    {
        await using var host = await DispatcherHost.StartAsync();
        var client = new EmbeddingClient(DispatcherHost.Model, new ApiKeyCredential(DispatcherHost.HighToken), Options(host));

        OpenAIEmbedding embedding = await client.GenerateEmbeddingAsync("a sentence to embed");

        Assert.Equal(8, embedding.ToFloats().Length);
        await host.AssertDrainedAsync();
    }

    [Fact]
    public async Task Completions_RawHttp_ForwardsPlainAndStreaming()
    {
        await using var host = await DispatcherHost.StartAsync();
        var http = host.CreateClient();

        using var plain = await http.PostAsync("/v1/completions", DispatcherHost.Json($"{{\"model\":\"{DispatcherHost.Model}\",\"prompt\":\"Say\",\"max_tokens\":3}}"));
        var body = await plain.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.OK, plain.StatusCode);
        using var json = JsonDocument.Parse(body);
        Assert.Equal("text_completion", json.RootElement.GetProperty("object").GetString());
        Assert.Equal("The quick brown", json.RootElement.GetProperty("choices")[0].GetProperty("text").GetString());

        using var streamed = await http.PostAsync("/v1/completions", DispatcherHost.Json(
            $"{{\"model\":\"{DispatcherHost.Model}\",\"prompt\":\"Say\",\"max_tokens\":3,\"stream\":true,\"stream_options\":{{\"include_usage\":true}}}}"));
        var events = (await streamed.Content.ReadAsStringAsync()).Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("text/event-stream; charset=utf-8", streamed.Content.Headers.ContentType?.ToString());
        Assert.Equal("data: [DONE]", events[^1]);
        Assert.Contains(events, e => e.Contains("\"usage\":{\"prompt_tokens\"", StringComparison.Ordinal));
        Assert.Equal(3 + 1 + 1 + 1, events.Length); // 3 tokens, the finish chunk, usage, [DONE]
        await host.AssertDrainedAsync();
    }

    [Fact]
    public async Task Models_ListAndCard_AnswerInOpenAiShape()
    {
        await using var host = await DispatcherHost.StartAsync();
        var http = host.CreateClient();

        using var list = JsonDocument.Parse(await http.GetStringAsync("/v1/models"));
        Assert.Equal("list", list.RootElement.GetProperty("object").GetString());
        var card = Assert.Single(list.RootElement.GetProperty("data").EnumerateArray().ToList());
        Assert.Equal(DispatcherHost.Model, card.GetProperty("id").GetString());
        Assert.Equal("model", card.GetProperty("object").GetString());

        using var one = await http.GetAsync($"/v1/models/{DispatcherHost.Model}");
        Assert.Equal(HttpStatusCode.OK, one.StatusCode);
        using var missing = await http.GetAsync("/v1/models/other");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
    }
}
