using System.Net;
using Dispatcher.Silo.Cluster;
using Dispatcher.Silo.Dashboard;
using Dispatcher.Silo.Remote;
using Dispatcher.Silo.Telemetry;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Dispatcher.Silo;

/// <summary>
/// The Silo as its own process (<c>Dispatcher.Silo serve</c>): the grains, the internal lease endpoint frontends
/// call (<see cref="SiloApi"/>, HTTP/2 on <see cref="ClusterOptions.InternalUrl"/>, port 8081), and health,
/// <c>/metrics</c> and <c>/dashboard</c> (HTTP/1.1 on <see cref="ClusterOptions.ManagementUrl"/>, port 8082).
/// </summary>
public static class SiloHost
{
    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateBuilder(args);
        configure?.Invoke(builder);
        var cluster = builder.Configuration.GetSection(ClusterOptions.SectionName).Get<ClusterOptions>() ?? new ClusterOptions();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            // Many lease calls share one connection as streams; pings notice a Frontend that vanished.
            kestrel.Limits.Http2.MaxStreamsPerConnection = 1000;
            kestrel.Limits.Http2.KeepAlivePingDelay = TimeSpan.FromSeconds(10);
            kestrel.Limits.Http2.KeepAlivePingTimeout = TimeSpan.FromSeconds(10);
            Listen(kestrel, cluster.InternalUrl, HttpProtocols.Http2);
            Listen(kestrel, cluster.ManagementUrl, HttpProtocols.Http1);
        });

        builder.Services.AddSiloProcess(builder.Configuration);
        builder.Services.AddSingleton<PrometheusExporter>();
        var app = builder.Build();
        app.Services.GetRequiredService<PrometheusExporter>();
        app.MapGet("/health/live", () => Results.Json(new { status = "live" }));
        app.MapGet("/health/ready", (IHostApplicationLifetime lifetime) =>
            lifetime.ApplicationStarted.IsCancellationRequested && !lifetime.ApplicationStopping.IsCancellationRequested
                ? Results.Json(new { status = "ready" })
                : Results.Json(new { status = "not ready" }, statusCode: StatusCodes.Status503ServiceUnavailable));
        app.MapGet("/metrics", (PrometheusExporter exporter) => Results.Text(exporter.Write(), PrometheusExporter.ContentType));
        app.MapSiloApi();
        app.MapDashboard();
        return app;
    }

    private static void Listen(KestrelServerOptions kestrel, string url, HttpProtocols protocols)
    {
        var uri = new Uri(url);
        if (uri.Scheme != Uri.UriSchemeHttp)
        {
            throw new InvalidOperationException($"{ClusterOptions.SectionName}: '{url}' must be an http:// address (the silo's endpoints are cluster-internal).");
        }

        if (uri.Host is "0.0.0.0" or "*" or "+")
        {
            kestrel.ListenAnyIP(uri.Port, o => o.Protocols = protocols);
        }
        else if (uri.IsLoopback && !IPAddress.TryParse(uri.Host, out _))
        {
            kestrel.ListenLocalhost(uri.Port, o => o.Protocols = protocols);
        }
        else
        {
            kestrel.Listen(IPAddress.Parse(uri.Host.Trim('[', ']')), uri.Port, o => o.Protocols = protocols);
        }
    }
}
