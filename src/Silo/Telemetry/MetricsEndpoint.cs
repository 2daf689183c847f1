using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Prometheus;

namespace Dispatcher.Silo.Telemetry;

/// <summary>Maps <c>GET /metrics</c> (no auth: keep it inside the cluster) to this host's <see cref="PrometheusMetrics"/>.</summary>
public static class MetricsEndpoint
{
    public static IEndpointRouteBuilder MapDispatcherMetrics(this IEndpointRouteBuilder endpoints)
    {
        var metrics = endpoints.ServiceProvider.GetRequiredService<PrometheusMetrics>(); // listening from the start
        endpoints.ServiceProvider.GetService<ClusterMetrics>(); // with a silo in this process
        endpoints.MapMetrics("/metrics", metrics.Registry).WithMetadata(new HttpMethodMetadata(["GET"])); // other methods: 405
        return endpoints;
    }
}
