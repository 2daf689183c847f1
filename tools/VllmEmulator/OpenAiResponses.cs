using System.Buffers;
using System.Text.Json;

namespace Dispatcher.VllmEmulator;

/// <summary>Writes vLLM-shaped JSON bodies (compact, vLLM's field order).</summary>
internal static class OpenAiResponses
{
    private static readonly string[] Words =
    [
        "The", " quick", " brown", " fox", " jumps", " over", " the", " lazy", " dog", ".", " GPUs", " are",
        " shared", " fairly", " by", " the", " dispatcher", ",", " and", " every", " user", " keeps", " a",
        " pleasant", " token", " rate", ".",
    ];

    public static string Token(int index) => Words[index % Words.Length];

    public static byte[] ChatChunk(string id, long created, string model, string? role, string? content, string? finishReason)
    {
        return Write(w =>
        {
            Header(w, id, "chat.completion.chunk", created, model);
            w.WriteStartArray("choices");
            w.WriteStartObject();
            w.WriteNumber("index", 0);
            w.WriteStartObject("delta");
            if (role is not null)
            {
                w.WriteString("role", role);
            }

            w.WriteString("content", content ?? "");
            w.WriteEndObject();
            w.WriteNull("logprobs");
            NullableString(w, "finish_reason", finishReason);
            if (finishReason is not null)
            {
                w.WriteNull("stop_reason");
            }

            if (role is null)
            {
                w.WriteNull("token_ids");
            }

            w.WriteEndObject();
            w.WriteEndArray();
            if (role is not null)
            {
                w.WriteNull("prompt_token_ids");
            }

            w.WriteEndObject();
        });
    }

    public static byte[] CompletionChunk(string id, long created, string model, string text, string? finishReason)
    {
        return Write(w =>
        {
            Header(w, id, "text_completion", created, model);
            w.WriteStartArray("choices");
            w.WriteStartObject();
            w.WriteNumber("index", 0);
            w.WriteString("text", text);
            w.WriteNull("logprobs");
            NullableString(w, "finish_reason", finishReason);
            w.WriteNull("stop_reason");
            w.WriteEndObject();
            w.WriteEndArray();
            w.WriteEndObject();
        });
    }

    public static byte[] UsageChunk(string id, string obj, long created, string model, int promptTokens, int completionTokens)
    {
        return Write(w =>
        {
            Header(w, id, obj, created, model);
            w.WriteStartArray("choices");
            w.WriteEndArray();
            Usage(w, promptTokens, completionTokens, details: false);
            w.WriteEndObject();
        });
    }

    public static byte[] ChatCompletion(string id, long created, string model, string content, string finishReason, int promptTokens, int completionTokens)
    {
        return Write(w =>
        {
            Header(w, id, "chat.completion", created, model);
            w.WriteStartArray("choices");
            w.WriteStartObject();
            w.WriteNumber("index", 0);
            w.WriteStartObject("message");
            w.WriteString("role", "assistant");
            w.WriteString("content", content);
            w.WriteNull("refusal");
            w.WriteNull("annotations");
            w.WriteNull("audio");
            w.WriteNull("function_call");
            w.WriteStartArray("tool_calls");
            w.WriteEndArray();
            w.WriteNull("reasoning_content");
            w.WriteEndObject();
            w.WriteNull("logprobs");
            w.WriteString("finish_reason", finishReason);
            w.WriteNull("stop_reason");
            w.WriteNull("token_ids");
            w.WriteEndObject();
            w.WriteEndArray();
            w.WriteNull("service_tier");
            w.WriteNull("system_fingerprint");
            Usage(w, promptTokens, completionTokens, details: true);
            w.WriteNull("prompt_logprobs");
            w.WriteNull("prompt_token_ids");
            w.WriteNull("kv_transfer_params");
            w.WriteEndObject();
        });
    }

    public static byte[] TextCompletion(string id, long created, string model, string text, string finishReason, int promptTokens, int completionTokens)
    {
        return Write(w =>
        {
            Header(w, id, "text_completion", created, model);
            w.WriteStartArray("choices");
            w.WriteStartObject();
            w.WriteNumber("index", 0);
            w.WriteString("text", text);
            w.WriteNull("logprobs");
            w.WriteString("finish_reason", finishReason);
            w.WriteNull("stop_reason");
            w.WriteNull("prompt_logprobs");
            w.WriteEndObject();
            w.WriteEndArray();
            w.WriteNull("service_tier");
            w.WriteNull("system_fingerprint");
            Usage(w, promptTokens, completionTokens, details: true);
            w.WriteNull("kv_transfer_params");
            w.WriteEndObject();
        });
    }

    public static byte[] Embeddings(string id, long created, string model, IReadOnlyList<string> inputs, int dimensions, int promptTokens)
    {
        return Write(w =>
        {
            w.WriteStartObject();
            w.WriteString("id", id);
            w.WriteString("object", "list");
            w.WriteNumber("created", created);
            w.WriteString("model", model);
            w.WriteStartArray("data");
            for (var i = 0; i < inputs.Count; i++)
            {
                w.WriteStartObject();
                w.WriteNumber("index", i);
                w.WriteString("object", "embedding");
                w.WriteStartArray("embedding");
                var seed = (uint)StringComparer.Ordinal.GetHashCode(inputs[i]);
                for (var d = 0; d < dimensions; d++)
                {
                    seed = (seed * 1_664_525u) + 1_013_904_223u;
                    w.WriteNumberValue(Math.Round((seed / (double)uint.MaxValue * 2) - 1, 6));
                }

                w.WriteEndArray();
                w.WriteEndObject();
            }

            w.WriteEndArray();
            Usage(w, promptTokens, 0, details: true);
            w.WriteEndObject();
        });
    }

    public static byte[] Models(EmulatorOptions options, long created)
    {
        return Write(w =>
        {
            w.WriteStartObject();
            w.WriteString("object", "list");
            w.WriteStartArray("data");
            w.WriteStartObject();
            w.WriteString("id", options.ModelName);
            w.WriteString("object", "model");
            w.WriteNumber("created", created);
            w.WriteString("owned_by", "vllm");
            w.WriteString("root", options.ModelName);
            w.WriteNull("parent");
            w.WriteNumber("max_model_len", options.MaxModelLen);
            w.WriteStartArray("permission");
            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteEndArray();
            w.WriteEndObject();
        });
    }

    /// <summary>vLLM ≥ 0.10.1's error body: <c>{"error":{"message","type","param","code"}}</c>, code = HTTP status.</summary>
    public static byte[] Error(int status, string type, string message, string? param)
    {
        return Write(w =>
        {
            w.WriteStartObject();
            w.WriteStartObject("error");
            w.WriteString("message", message);
            w.WriteString("type", type);
            NullableString(w, "param", param);
            w.WriteNumber("code", status);
            w.WriteEndObject();
            w.WriteEndObject();
        });
    }

    private static void Header(Utf8JsonWriter w, string id, string obj, long created, string model)
    {
        w.WriteStartObject();
        w.WriteString("id", id);
        w.WriteString("object", obj);
        w.WriteNumber("created", created);
        w.WriteString("model", model);
    }

    private static void Usage(Utf8JsonWriter w, int promptTokens, int completionTokens, bool details)
    {
        w.WriteStartObject("usage");
        w.WriteNumber("prompt_tokens", promptTokens);
        w.WriteNumber("total_tokens", promptTokens + completionTokens);
        w.WriteNumber("completion_tokens", completionTokens);
        if (details)
        {
            w.WriteNull("prompt_tokens_details");
        }

        w.WriteEndObject();
    }

    private static void NullableString(Utf8JsonWriter w, string name, string? value)
    {
        if (value is null)
        {
            w.WriteNull(name);
        }
        else
        {
            w.WriteString(name, value);
        }
    }

    private static byte[] Write(Action<Utf8JsonWriter> body)
    {
        var buffer = new ArrayBufferWriter<byte>(512);
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            body(writer);
        }

        return buffer.WrittenSpan.ToArray();
    }
}
