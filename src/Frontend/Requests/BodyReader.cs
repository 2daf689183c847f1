using Dispatcher.Frontend.Errors;
using Microsoft.Net.Http.Headers;

namespace Dispatcher.Frontend.Requests;

/// <summary>Reads a POST body in full, within the configured size limit, and checks its media type.</summary>
internal static class BodyReader
{
    public static async Task<(ReadOnlyMemory<byte> Content, BodyProblem? Problem)> ReadAsync(HttpRequest request, long maxSize)
    {
        if (!MediaTypeHeaderValue.TryParse(request.ContentType, out var mediaType)
            || !mediaType.MediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase))
        {
            return (default, new BodyProblem(DispatcherError.UnsupportedMediaType,
                "Only 'application/json' request bodies are accepted; set the Content-Type header accordingly."));
        }

        if (request.ContentLength > maxSize)
        {
            return (default, TooLarge(maxSize));
        }

        var buffer = new MemoryStream(request.ContentLength is { } length ? (int)length : 4096);
        try
        {
            await request.Body.CopyToAsync(buffer, request.HttpContext.RequestAborted);
        }
        catch (BadHttpRequestException exception) when (exception.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return (default, TooLarge(maxSize));
        }

        if (buffer.Length > maxSize)
        {
            return (default, TooLarge(maxSize));
        }

        return (buffer.GetBuffer().AsMemory(0, (int)buffer.Length), null);
    }

    private static BodyProblem TooLarge(long maxSize) =>
        new(DispatcherError.BodyTooLarge, $"The request body is larger than the {maxSize} bytes this service accepts.");
}
