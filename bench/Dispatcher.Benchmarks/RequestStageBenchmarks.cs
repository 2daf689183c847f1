using System.Text;
using BenchmarkDotNet.Attributes;
using Dispatcher.Frontend.Auth;
using Dispatcher.Frontend.Forwarding;
using Dispatcher.Frontend.Requests;
using Dispatcher.Grains.Abstractions.Tokens;
using Microsoft.Extensions.Options;

namespace Dispatcher.Benchmarks;

/// <summary>
/// The dispatcher's own work on one request, stage by stage, without sockets or grains: hashing the bearer token and
/// finding its policy, inspecting a chat body, setting vLLM's priority in it, and watching a streamed answer for its
/// usage. <c>overhead</c> measures the whole request; this says which of our stages cost what.
/// </summary>
[MemoryDiagnoser]
public class RequestStageBenchmarks
{
    private const string Secret = "sk-team-a-0123456789abcdef0123456789abcdef";

    private static readonly byte[] Chat = Encoding.UTF8.GetBytes(
        "{\"model\":\"meta-llama/Llama-3.1-8B-Instruct\",\"messages\":[{\"role\":\"system\",\"content\":\"You are a helpful assistant.\"}," +
        "{\"role\":\"user\",\"content\":\"Summarise the following paragraph in two sentences: " + new string('x', 600) + "\"}]," +
        "\"stream\":true,\"max_tokens\":256,\"temperature\":0.7,\"stream_options\":{\"include_usage\":true}}");

    /// <summary>A streamed answer of 64 tokens as vLLM sends it: one SSE event per token, then the usage and [DONE].</summary>
    private static readonly byte[][] Answer =
    [
        .. Enumerable.Range(0, 64).Select(i => Encoding.UTF8.GetBytes(
            $$"""data: {"id":"chatcmpl-0123","object":"chat.completion.chunk","created":1764650000,"model":"m","choices":[{"index":0,"delta":{"content":"tok{{i}}"},"logprobs":null,"finish_reason":null}]}""" + "\n\n")),
        Encoding.UTF8.GetBytes("""data: {"id":"chatcmpl-0123","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":180,"total_tokens":244,"completion_tokens":64}}""" + "\n\ndata: [DONE]\n\n"),
    ];

    private readonly TokenPolicyCache _policies = new(Options.Create(new AuthOptions()), TimeProvider.System);
    private InspectedBody _body = null!;

    [GlobalSetup]
    public void Setup()
    {
        _body = BodyInspector.Inspect(Chat).Body!;
        _policies.Put(new AuthenticatedToken(TokenHash.Compute(Secret), new TokenPolicy("team-a", 5, 100)));
    }

    [Benchmark(Description = "auth: hash the token, find its policy")]
    public object? Authenticate() => _policies.Find(TokenHash.Compute(Secret));

    [Benchmark(Description = "body: validate and read model, stream, priority (1 KB chat)")]
    public object? Inspect() => BodyInspector.Inspect(Chat).Body;

    [Benchmark(Description = "body: set vLLM's priority field")]
    public int SetPriority() => PriorityRewriter.Rewrite(_body, 42).Length;

    [Benchmark(Description = "usage: watch a 64-token SSE answer")]
    public async Task<int> Meter()
    {
        await using var meter = new UsageMeter(Stream.Null, TimeProvider.System);
        foreach (var chunk in Answer)
        {
            await meter.WriteAsync(chunk);
        }

        return meter.Usage?.CompletionTokens ?? 0;
    }
}
