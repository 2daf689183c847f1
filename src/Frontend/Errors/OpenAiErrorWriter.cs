using System.Globalization;
using System.Text.Json;

namespace Dispatcher.Frontend.Errors;

/// <summary>
/// Writes the dispatcher's own errors in OpenAI's envelope
/// <c>{"error":{"message","type","param","code"}}</c>. The one place where an error becomes a status code.
/// Errors that vLLM answers never pass through here: they are forwarded unchanged.
/// </summary>
internal static class OpenAiErrorWriter
{
    /// <summary>The status, OpenAI <c>type</c> and <c>code</c> of each error.</summary>
    public static (int Status, string Type, string Code) Describe(DispatcherError error) => error switch
    {
        DispatcherError.MissingToken => (401, "authentication_error", "missing_api_key"),
        DispatcherError.UnknownToken => (401, "authentication_error", "invalid_api_key"),
        DispatcherError.TokenStoreUnavailable => (503, "server_error", "token_store_unavailable"),
        DispatcherError.InvalidJson => (400, "invalid_request_error", "invalid_json"),
        DispatcherError.InvalidField => (400, "invalid_request_error", "invalid_value"),
        DispatcherError.UnsupportedMediaType => (415, "invalid_request_error", "unsupported_media_type"),
        DispatcherError.BodyTooLarge => (413, "invalid_request_error", "request_too_large"),
        DispatcherError.UnknownModel => (404, "invalid_request_error", "model_not_found"),
        DispatcherError.UnknownRoute => (404, "invalid_request_error", "unknown_url"),
        DispatcherError.MethodNotAllowed => (405, "invalid_request_error", "method_not_allowed"),
        DispatcherError.TooManyFailedAttempts => (429, "rate_limit_error", "too_many_failed_attempts"),
        DispatcherError.OverThreshold => (429, "rate_limit_error", "too_many_waiting_requests"),
        DispatcherError.QueueTimeout => (503, "server_error", "queue_timeout"),
        DispatcherError.NoHealthyBackend => (503, "server_error", "no_healthy_backend"),
        DispatcherError.SiloUnavailable => (503, "server_error", "dispatcher_unavailable"),
        DispatcherError.UpstreamUnreachable => (502, "server_error", "upstream_unreachable"),
        DispatcherError.UpstreamTimeout => (504, "server_error", "upstream_timeout"),
        _ => throw new ArgumentOutOfRangeException(nameof(error), error, null),
    };

    /// <summary>Writes <paramref name="error"/> unless the response has started (then it can only be aborted).</summary>
    public static async Task WriteAsync(HttpContext context, DispatcherError error, string message, string? param = null, TimeSpan? retryAfter = null, string? allow = null)
    {
        var response = context.Response;
        if (response.HasStarted)
        {
            return;
        }

        var (status, type, code) = Describe(error);
        response.Clear();
        response.StatusCode = status;
        response.ContentType = "application/json";
        if (retryAfter is { } delay)
        {
            response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(delay.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
        }

        if (status == 401)
        {
            response.Headers.WWWAuthenticate = "Bearer";
        }

        if (allow is not null)
        {
            response.Headers.Allow = allow;
        }

        var buffer = new System.Buffers.ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteStartObject("error");
            writer.WriteString("message", message);
            writer.WriteString("type", type);
            if (param is null)
            {
                writer.WriteNull("param");
            }
            else
            {
                writer.WriteString("param", param);
            }

            writer.WriteString("code", code);
            writer.WriteEndObject();
            writer.WriteEndObject();
        }

        response.ContentLength = buffer.WrittenCount;
        await response.Body.WriteAsync(buffer.WrittenMemory, context.RequestAborted);
    }
}
