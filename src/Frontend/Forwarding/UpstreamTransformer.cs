using System.Net.Http.Headers;
using Yarp.ReverseProxy.Forwarder;

namespace Dispatcher.Frontend.Forwarding;

/// <summary>
/// Prepares the request to a replica: YARP's default copy of method, path, query and headers, then drops
/// the client's Authorization (the dispatcher's token must never reach vLLM), sends the replica's own API
/// key when one is configured, and sets <c>X-Request-Id</c> so vLLM's response ids carry the dispatcher's.
/// </summary>
internal sealed class UpstreamTransformer(string? apiKey, string requestId) : HttpTransformer
{
    public override async ValueTask TransformRequestAsync(HttpContext httpContext, HttpRequestMessage proxyRequest, string destinationPrefix, CancellationToken cancellationToken)
    {
        await base.TransformRequestAsync(httpContext, proxyRequest, destinationPrefix, cancellationToken);
        proxyRequest.Headers.Authorization = apiKey is null ? null : new AuthenticationHeaderValue("Bearer", apiKey);
        proxyRequest.Headers.Remove("X-Request-Id");
        proxyRequest.Headers.TryAddWithoutValidation("X-Request-Id", requestId);
        proxyRequest.Headers.Host = null;
    }

    public override async ValueTask<bool> TransformResponseAsync(HttpContext httpContext, HttpResponseMessage? proxyResponse, CancellationToken cancellationToken)
    {
        var result = await base.TransformResponseAsync(httpContext, proxyResponse, cancellationToken);
        httpContext.Response.Headers["X-Request-Id"] = requestId; // ours, whatever the replica echoed
        return result;
    }
}
