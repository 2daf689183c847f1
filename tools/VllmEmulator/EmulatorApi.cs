using System.Text;
using System.Text.Json;
using Microsoft.Net.Http.Headers;

namespace Dispatcher.VllmEmulator;

/// <summary>The emulated vLLM routes (see <c>shared/reference/vllm-interface.md</c> sections 1 to 4).</summary>
internal static class EmulatorApi
{
    private static readonly byte[] DataPrefix = "data: "u8.ToArray();
    private static readonly byte[] EventEnd = "\n\n"u8.ToArray();
    private static readonly byte[] Done = "data: [DONE]\n\n"u8.ToArray();

    private enum Route
    {
        Chat,
        Completion,
        Embedding,
    }

    public static void Map(WebApplication app, EmulatorServer server)
    {
        app.Use(async (context, next) =>
        {
            server.Requests.Enqueue($"{context.Request.Method} {context.Request.Path}{context.Request.QueryString}");
            var key = server.Options.ApiKey;
            if (key is not null && context.Request.Path.StartsWithSegments("/v1")
                && context.Request.Headers.Authorization.ToString() != $"Bearer {key}")
            {
                context.Response.StatusCode = StatusCodes.Status401Unauthorized;
                context.Response.ContentType = "application/json";
                await context.Response.WriteAsync("{\"error\":\"Unauthorized\"}", context.RequestAborted);
                return;
            }

            await next(context);
        });

        app.MapPost("/v1/chat/completions", context => HandleAsync(context, server, Route.Chat));
        app.MapPost("/v1/completions", context => HandleAsync(context, server, Route.Completion));
        app.MapPost("/v1/embeddings", context => HandleAsync(context, server, Route.Embedding));
        app.MapGet("/v1/models", context => WriteJsonAsync(context, 200, OpenAiResponses.Models(server.Options, Now(server))));
        app.MapGet("/health", () => Results.Ok());
        app.MapGet("/version", () => Results.Json(new { version = "0.11.0+emulator" }));
        app.MapGet("/metrics", () => Results.Text(MetricsWriter.Write(server.Engine), "text/plain; version=0.0.4; charset=utf-8"));
        app.MapGet("/emulator/stats", () => Results.Json(server.Engine.Stats()));
        app.MapPost("/emulator/faults", (FaultPlan plan) =>
        {
            server.Faults.Set(plan);
            return Results.NoContent();
        });
        app.MapPost("/emulator/restart", () =>
        {
            // Like a vLLM restart: the listener goes away for a moment and comes back with counters at zero.
            _ = Task.Run(async () =>
            {
                await Task.Delay(100);
                await server.RestartAsync();
            });
            return Results.Accepted();
        });
        app.MapDelete("/emulator/faults", () =>
        {
            server.Faults.Clear();
            return Results.NoContent();
        });
    }

    private static async Task HandleAsync(HttpContext context, EmulatorServer server, Route route)
    {
        var fault = server.Faults.Take();
        if (fault?.DelayMs is { } delay)
        {
            await Task.Delay(delay, context.RequestAborted);
        }

        if (fault?.Status is { } status)
        {
            var body = fault.Body is null
                ? OpenAiResponses.Error(status, status >= 500 ? "InternalServerError" : "BadRequestError", $"Injected failure {status}.", null)
                : Encoding.UTF8.GetBytes(fault.Body);
            await WriteJsonAsync(context, status, body);
            return;
        }

        if (!MediaTypeHeaderValue.TryParse(context.Request.ContentType, out var mediaType)
            || !mediaType.MediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase))
        {
            await ErrorAsync(context, 415, "Unsupported Media Type", "Unsupported Media Type: Only 'application/json' is allowed", null);
            return;
        }

        var raw = new MemoryStream();
        await context.Request.Body.CopyToAsync(raw, context.RequestAborted);
        server.LastRequestBody = Encoding.UTF8.GetString(raw.GetBuffer(), 0, (int)raw.Length);
        var requestId = context.Request.Headers["X-Request-Id"].ToString();
        server.LastRequestId = requestId;
        server.RequestIds.Enqueue(requestId);
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(raw.GetBuffer().AsMemory(0, (int)raw.Length));
        }
        catch (JsonException exception)
        {
            await ErrorAsync(context, 400, "BadRequestError", $"JSON decode error: {exception.Message}", null);
            return;
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                await ErrorAsync(context, 400, "BadRequestError", "Input should be a valid dictionary", null);
                return;
            }

            var model = root.TryGetProperty("model", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString()! : server.Options.ModelName;
            if (model != server.Options.ModelName)
            {
                await ErrorAsync(context, 404, "NotFoundError", $"The model `{model}` does not exist.", "model");
                return;
            }

            if (route == Route.Embedding)
            {
                await EmbedAsync(context, server, root, model);
                return;
            }

            await GenerateAsync(context, server, route, root, model, fault);
        }
    }

    private static async Task GenerateAsync(HttpContext context, EmulatorServer server, Route route, JsonElement root, string model, FaultPlan? fault)
    {
        var promptField = route == Route.Chat ? "messages" : "prompt";
        if (!root.TryGetProperty(promptField, out var prompt) || prompt.ValueKind is JsonValueKind.Null or JsonValueKind.Undefined)
        {
            await ErrorAsync(context, 400, "BadRequestError", $"[{{'type': 'missing', 'loc': ('body', '{promptField}'), 'msg': 'Field required'}}]", null);
            return;
        }

        var stream = root.TryGetProperty("stream", out var s) && s.ValueKind == JsonValueKind.True;
        var hasStreamOptions = root.TryGetProperty("stream_options", out var streamOptions) && streamOptions.ValueKind == JsonValueKind.Object;
        if (hasStreamOptions && !stream)
        {
            await ErrorAsync(context, 400, "BadRequestError", "Stream options can only be defined when `stream=True`.", "stream_options");
            return;
        }

        var includeUsage = hasStreamOptions && streamOptions.TryGetProperty("include_usage", out var iu) && iu.ValueKind == JsonValueKind.True;
        var tokens = server.Options.DefaultCompletionTokens;
        var finishReason = "stop";
        foreach (var name in (ReadOnlySpan<string>)["max_completion_tokens", "max_tokens"])
        {
            if (root.TryGetProperty(name, out var max) && max.ValueKind != JsonValueKind.Null)
            {
                if (max.ValueKind != JsonValueKind.Number || !max.TryGetInt32(out tokens) || tokens < 1)
                {
                    await ErrorAsync(context, 400, "BadRequestError", $"{name} must be at least 1, got {max.GetRawText()}.", name);
                    return;
                }

                finishReason = "length";
                break;
            }
        }

        var promptTokens = Math.Max(1, prompt.GetRawText().Length / 4);
        var id = (route == Route.Chat ? "chatcmpl-" : "cmpl-") + RequestId(context);
        var created = Now(server);
        var aborted = context.RequestAborted;

        if (!stream)
        {
            var text = new StringBuilder();
            await server.Engine.RunAsync(promptTokens, tokens, finishReason, fault?.StallAfterTokens, i =>
            {
                text.Append(OpenAiResponses.Token(i));
                return Task.CompletedTask;
            }, aborted);
            var body = route == Route.Chat
                ? OpenAiResponses.ChatCompletion(id, created, model, text.ToString(), finishReason, promptTokens, tokens)
                : OpenAiResponses.TextCompletion(id, created, model, text.ToString(), finishReason, promptTokens, tokens);
            await WriteJsonAsync(context, 200, body);
            return;
        }

        context.Response.StatusCode = 200;
        context.Response.ContentType = "text/event-stream; charset=utf-8";
        await context.Response.StartAsync(aborted);
        var objectName = route == Route.Chat ? "chat.completion.chunk" : "text_completion";
        await server.Engine.RunAsync(promptTokens, tokens, finishReason, fault?.StallAfterTokens, async i =>
        {
            if (i == fault?.CutAfterTokens)
            {
                context.Abort();
                throw new OperationCanceledException("Injected cut.");
            }

            if (route == Route.Chat && i == 0)
            {
                await EventAsync(context, OpenAiResponses.ChatChunk(id, created, model, "assistant", "", null));
            }

            var last = i == tokens - 1;
            var chunk = route == Route.Chat
                ? OpenAiResponses.ChatChunk(id, created, model, null, OpenAiResponses.Token(i), null)
                : OpenAiResponses.CompletionChunk(id, created, model, OpenAiResponses.Token(i), null);
            await EventAsync(context, chunk);
            if (last)
            {
                var final = route == Route.Chat
                    ? OpenAiResponses.ChatChunk(id, created, model, null, "", finishReason)
                    : OpenAiResponses.CompletionChunk(id, created, model, "", finishReason);
                await EventAsync(context, final);
            }
        }, aborted);

        if (includeUsage)
        {
            await EventAsync(context, OpenAiResponses.UsageChunk(id, objectName, created, model, promptTokens, tokens));
        }

        await context.Response.Body.WriteAsync(Done, aborted);
        await context.Response.Body.FlushAsync(aborted);
    }

    private static async Task EmbedAsync(HttpContext context, EmulatorServer server, JsonElement root, string model)
    {
        if (!root.TryGetProperty("input", out var input) || input.ValueKind is not (JsonValueKind.String or JsonValueKind.Array))
        {
            await ErrorAsync(context, 400, "BadRequestError", "[{'type': 'missing', 'loc': ('body', 'input'), 'msg': 'Field required'}]", null);
            return;
        }

        var inputs = input.ValueKind == JsonValueKind.String
            ? [input.GetString()!]
            : input.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.String ? e.GetString()! : e.GetRawText()).ToList();
        var promptTokens = Math.Max(1, inputs.Sum(i => i.Length) / 4);
        await server.Engine.RunAsync(promptTokens, 0, "stop", null, _ => Task.CompletedTask, context.RequestAborted);
        await WriteJsonAsync(context, 200, OpenAiResponses.Embeddings("embd-" + RequestId(context), Now(server), model, inputs, 8, promptTokens));
    }

    private static async Task EventAsync(HttpContext context, byte[] json)
    {
        var body = context.Response.Body;
        await body.WriteAsync(DataPrefix, context.RequestAborted);
        await body.WriteAsync(json, context.RequestAborted);
        await body.WriteAsync(EventEnd, context.RequestAborted);
        await body.FlushAsync(context.RequestAborted);
    }

    private static Task ErrorAsync(HttpContext context, int status, string type, string message, string? param) =>
        WriteJsonAsync(context, status, OpenAiResponses.Error(status, type, message, param));

    private static async Task WriteJsonAsync(HttpContext context, int status, byte[] body)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        context.Response.ContentLength = body.Length;
        await context.Response.Body.WriteAsync(body, context.RequestAborted);
    }

    private static string RequestId(HttpContext context) =>
        context.Request.Headers["X-Request-Id"] is { Count: > 0 } header && !string.IsNullOrWhiteSpace(header[0]) ? header[0]! : Guid.NewGuid().ToString("N");

    private static long Now(EmulatorServer server) => server.Time.GetUtcNow().ToUnixTimeSeconds();
}
