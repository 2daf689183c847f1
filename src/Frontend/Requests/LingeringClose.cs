using System.Buffers;
using Microsoft.Net.Http.Headers;

namespace Dispatcher.Frontend.Requests;

/// <summary>
/// After a 413 to an HTTP/1.x client still sending its body, reads and throws away the rest (at most
/// <see cref="MaxBytes"/> within <see cref="MaxTime"/>) before the connection closes, as nginx's lingering close does.
/// Closing at once would reset the connection while the client is still writing: most clients (Node's fetch among
/// them) then report the broken pipe and never read the 413 waiting for them. A client that asked
/// <c>Expect: 100-continue</c> and was refused on its declared length never sent the body: nothing to read.
/// </summary>
internal static class LingeringClose
{
    /// <summary>The most bytes thrown away after a 413; past them the connection is closed all the same.</summary>
    public const long MaxBytes = 256L * 1024 * 1024;

    /// <summary>The longest the rest of a body is read for.</summary>
    public static readonly TimeSpan MaxTime = TimeSpan.FromSeconds(10);

    /// <summary>Whether the client may still be sending: HTTP/1.x, and not a declared length refused before a 100 Continue.</summary>
    public static bool Applies(HttpRequest request, long maxSize) =>
        (HttpProtocol.IsHttp11(request.Protocol) || HttpProtocol.IsHttp10(request.Protocol))
        && !(request.ContentLength > maxSize && request.Headers.Expect.ToString().Contains("100-continue", StringComparison.OrdinalIgnoreCase));

    /// <summary>Asks for the connection to close after this answer; call before the answer starts.</summary>
    public static void CloseAfterResponse(HttpResponse response) => response.Headers[HeaderNames.Connection] = "close";

    /// <summary>
    /// Sends the answer's last bytes, then reads the rest of the request body within the bounds (Kestrel's own limit was
    /// lifted by <see cref="BodyReader"/>).
    /// </summary>
    public static async Task DrainAsync(HttpContext context, TimeProvider time)
    {
        await context.Response.CompleteAsync();
        using var timeout = new CancellationTokenSource(MaxTime, time);
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, timeout.Token);
        var chunk = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            long drained = 0;
            int read;
            while (drained < MaxBytes && (read = await context.Request.Body.ReadAsync(chunk, bounded.Token)) > 0)
            {
                drained += read;
            }
        }
        catch (Exception exception) when (exception is OperationCanceledException or IOException or BadHttpRequestException)
        {
            // Too slow, too long, or the client left: the connection closes now.
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(chunk);
        }
    }
}
