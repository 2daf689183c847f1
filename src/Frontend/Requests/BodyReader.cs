using System.Buffers;
using Dispatcher.Frontend.Errors;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Net.Http.Headers;

namespace Dispatcher.Frontend.Requests;

/// <summary>
/// Reads a POST body in full, within the configured size limit, and checks its media type. The limit is kept here
/// rather than by Kestrel, so that the rest of a body over it can still be read and thrown away after the 413
/// (<see cref="LingeringClose"/>): Kestrel refuses every read past its own limit.
/// </summary>
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

        if (request.HttpContext.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } kestrelLimit)
        {
            kestrelLimit.MaxRequestBodySize = null; // kept here instead, also for a body refused on its declared length
        }

        if (request.ContentLength > maxSize)
        {
            return (default, TooLarge(maxSize));
        }

        var buffer = new MemoryStream(request.ContentLength is { } length ? (int)length : 4096);
        var chunk = ArrayPool<byte>.Shared.Rent(16 * 1024);
        try
        {
            int read;
            while ((read = await request.Body.ReadAsync(chunk, request.HttpContext.RequestAborted)) > 0)
            {
                if (buffer.Length + read > maxSize)
                {
                    return (default, TooLarge(maxSize));
                }

                buffer.Write(chunk, 0, read);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(chunk);
        }

        return (buffer.GetBuffer().AsMemory(0, (int)buffer.Length), null);
    }

    private static BodyProblem TooLarge(long maxSize) =>
        new(DispatcherError.BodyTooLarge, $"The request body is larger than the {maxSize} bytes this service accepts.");
}
