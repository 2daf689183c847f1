using Dispatcher.Grains.Abstractions.Configuration;
using Dispatcher.Grains.Abstractions.Models;
using Dispatcher.Silo.Dashboard;
using Dispatcher.Silo.Database;
using Dispatcher.Silo.Health;
using Dispatcher.Silo.Telemetry;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Dispatcher.Silo;

/// <summary>
/// The silo as its own process (<c>Dispatcher.Silo serve</c>): an Orleans silo hosting the grains (silo port 11111,
/// gateway port 30000), and a management endpoint (<c>--urls</c>, default port 8082) with health, <c>/metrics</c>,
/// <c>/dashboard</c> and <c>/cluster</c>.
/// </summary>
public static class SiloHost
{
    /// <summary>The management endpoint when none is configured.</summary>
    public const string DefaultUrl = "http://0.0.0.0:8082";

    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateBuilder(args);
        configure?.Invoke(builder);
        if (string.IsNullOrEmpty(builder.Configuration[WebHostDefaults.ServerUrlsKey]))
        {
            builder.WebHost.UseUrls(DefaultUrl);
        }

        builder.AddDispatcherSilo(joinCluster: true);
        builder.AddDispatcherTelemetry("dispatcher-silo");
        builder.Services.AddSingleton<PrometheusMetrics>();
        var app = builder.Build();
        app.MapDispatcherHealthChecks();
        app.MapDispatcherMetrics();
        app.MapClusterView();
        app.MapDashboard();
        return app;
    }

    /// <summary>
    /// Applies the database migrations (token tables and Orleans' membership tables) before the silo joins, waiting
    /// with backoff while the database cannot be reached. Nothing to do without <c>ConnectionStrings:Postgres</c>.
    /// </summary>
    public static async Task MigrateAsync(IConfiguration configuration, CancellationToken cancellationToken)
    {
        if (configuration.GetConnectionString(SiloHostingExtensions.PostgresConnectionName) is not { Length: > 0 } connectionString)
        {
            return;
        }

        await using var dataSource = NpgsqlDataSource.Create(connectionString);
        var backoff = TimeSpan.FromMilliseconds(500);
        while (true)
        {
            try
            {
                await PostgresMigrator.MigrateAsync(dataSource, cancellationToken).ConfigureAwait(false);
                return;
            }
            catch (Exception exception) when (exception is NpgsqlException or TimeoutException or IOException && !cancellationToken.IsCancellationRequested)
            {
                await Console.Error.WriteLineAsync($"Database not reachable for migrations ({exception.Message}); retrying in {backoff.TotalSeconds:0.#} s").ConfigureAwait(false);
                await Task.Delay(backoff, cancellationToken).ConfigureAwait(false);
                backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, TimeSpan.FromSeconds(10).Ticks));
            }
        }
    }

    /// <summary>
    /// <c>GET /cluster</c>: the live silos and, for each configured model, the silo that hosts its model grain now
    /// (activating it if needed), each named by its silo endpoint <c>host:port</c>. Answers "where is my queue?".
    /// </summary>
    public static IEndpointRouteBuilder MapClusterView(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/cluster", async (IGrainFactory grains, IOptions<DispatcherOptions> options, CancellationToken cancellationToken) =>
        {
            var management = grains.GetGrain<IManagementGrain>(0);
            var hosts = await management.GetHosts(onlyActive: true, cancellationToken);
            var models = new SortedDictionary<string, string?>(StringComparer.Ordinal);
            foreach (var model in options.Value.Models)
            {
                var grain = grains.GetGrain<IModelGrain>(model.Name);
                await grain.GetWaitingCountAsync(cancellationToken);
                models[model.Name] = (await management.GetActivationAddress(grain, cancellationToken))?.Endpoint.ToString();
            }

            return Results.Json(new { silos = hosts.Keys.Select(s => s.Endpoint.ToString()).Order(StringComparer.Ordinal), models });
        });
        return endpoints;
    }
}
