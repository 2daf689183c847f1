namespace Dispatcher.Frontend.Health;

/// <summary>
/// Probes without auth. Live: the process answers. Ready: started and not shutting down, so Kubernetes stops
/// sending traffic while a pod drains. A replica outage does not make the Frontend unready: clients then get
/// a clear 503 instead of a refused connection.
/// </summary>
internal static class HealthApi
{
    public static IEndpointRouteBuilder MapHealthApi(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/health/live", () => Results.Json(new { status = "live" }));
        endpoints.MapGet("/health/ready", (IHostApplicationLifetime lifetime) =>
            lifetime.ApplicationStarted.IsCancellationRequested && !lifetime.ApplicationStopping.IsCancellationRequested
                ? Results.Json(new { status = "ready" })
                : Results.Json(new { status = "not ready" }, statusCode: StatusCodes.Status503ServiceUnavailable));
        return endpoints;
    }
}
