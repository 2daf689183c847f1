using Dispatcher.Frontend.Forwarding;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Yarp.ReverseProxy.Forwarder;

namespace Dispatcher.Benchmarks;

/// <summary>
/// The floor under the dispatcher's hop: Kestrel and YARP's <see cref="IHttpForwarder"/> alone, round-robin over the
/// replicas with the dispatcher's connection settings, and nothing else (no token, no body inspection, no lease, no
/// metering, no metrics). What the dispatcher costs above this row is its own; what this row costs above nginx is the
/// ASP.NET Core and YARP machinery it is built on. Run as its own process by <see cref="Processes.BareProxyAsync"/>.
/// </summary>
internal static class BareProxy
{
    /// <summary><c>bare-proxy URL REPLICA...</c>: listens on URL until killed.</summary>
    public static async Task RunAsync(string url, IReadOnlyList<string> replicas)
    {
        var builder = WebApplication.CreateBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls(url);
        builder.Services.AddHttpForwarder();
        var app = builder.Build();
        using var upstream = new UpstreamClient(Options.Create(new ForwardingOptions())); // the dispatcher's own connection pool
        var next = 0;
        app.MapGet("/health", () => Results.Ok());
        app.Map("/{**path}", async (HttpContext context, IHttpForwarder forwarder) =>
        {
            var replica = replicas[(int)((uint)Interlocked.Increment(ref next) % replicas.Count)];
            await forwarder.SendAsync(context, replica, upstream.Invoker, ForwarderRequestConfig.Empty, HttpTransformer.Empty);
        });
        await app.RunAsync();
    }
}
