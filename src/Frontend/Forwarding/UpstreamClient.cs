using System.Diagnostics;
using System.Net;
using Microsoft.Extensions.Options;
using Yarp.ReverseProxy.Forwarder;

namespace Dispatcher.Frontend.Forwarding;

/// <summary>The one connection pool to all replicas, tuned for proxying (YARP's recommendations).</summary>
internal sealed class UpstreamClient(IOptions<ForwardingOptions> options) : IDisposable
{
    public HttpMessageInvoker Invoker { get; } = new(new SocketsHttpHandler
    {
        UseProxy = false,
        AllowAutoRedirect = false,
        AutomaticDecompression = DecompressionMethods.None,
        UseCookies = false,
        EnableMultipleHttp2Connections = true,
        ConnectTimeout = options.Value.ConnectTimeout,
        // vLLM (uvicorn) closes idle keep-alive connections after 5 s; retire ours first.
        PooledConnectionIdleTimeout = TimeSpan.FromSeconds(4),
        ActivityHeadersPropagator = new ReverseProxyPropagator(DistributedContextPropagator.Current),
    });

    public void Dispose() => Invoker.Dispose();
}
