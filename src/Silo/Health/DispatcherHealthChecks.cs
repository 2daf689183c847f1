using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Dispatcher.Silo.Health;

/// <summary>
/// ASP.NET Core health checks of every dispatcher process. <c>/health/live</c>: the process answers.
/// <c>/health/ready</c>: it can serve (a silo is active in the cluster; a Frontend's cluster client reaches a silo or
/// its co-hosted silo is active) and is not stopping, so Kubernetes stops sending traffic while a pod drains.
/// PostgreSQL unreachable is reported as degraded (still 200): the cluster keeps serving known tokens meanwhile, and
/// taking every process out of service for it would turn a database blip into an outage. Neither probe needs a token.
/// </summary>
public static class DispatcherHealthChecks
{
    public const string LiveTag = "live";
    public const string ReadyTag = "ready";

    /// <summary>How long the database check may take before it counts as unreachable.</summary>
    private static readonly TimeSpan DatabaseTimeout = TimeSpan.FromSeconds(2);

    /// <summary>Registers the checks: <typeparamref name="TCluster"/> says whether this process is part of the cluster.</summary>
    public static IHealthChecksBuilder AddDispatcherHealthChecks<TCluster>(this IServiceCollection services, IConfiguration configuration)
        where TCluster : class, IHealthCheck
    {
        var checks = services.AddHealthChecks()
            .AddCheck("process", () => HealthCheckResult.Healthy(), tags: [LiveTag])
            .AddCheck<TCluster>("cluster", tags: [ReadyTag]);
        if (configuration.GetConnectionString(SiloHostingExtensions.PostgresConnectionName) is { Length: > 0 } connectionString)
        {
            checks.AddNpgSql(connectionString, name: "postgres", failureStatus: HealthStatus.Degraded, tags: [ReadyTag], timeout: DatabaseTimeout);
        }

        return checks;
    }

    /// <summary>Maps <c>/health/live</c> and <c>/health/ready</c>, answering JSON with each check's state.</summary>
    public static IEndpointRouteBuilder MapDispatcherHealthChecks(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapHealthChecks("/health/live", new HealthCheckOptions { Predicate = c => c.Tags.Contains(LiveTag), ResponseWriter = WriteAsync });
        endpoints.MapHealthChecks("/health/ready", new HealthCheckOptions { Predicate = c => c.Tags.Contains(ReadyTag), ResponseWriter = WriteAsync });
        return endpoints;
    }

    private static Task WriteAsync(HttpContext context, HealthReport report)
    {
        context.Response.ContentType = "application/json";
        var checks = report.Entries.ToDictionary(
            e => e.Key,
            e => new { status = e.Value.Status.ToString(), description = e.Value.Description ?? e.Value.Exception?.Message });
        return JsonSerializer.SerializeAsync(context.Response.Body, new { status = report.Status.ToString(), checks }, cancellationToken: context.RequestAborted);
    }
}
