using Dispatcher.Frontend.Api;
using Dispatcher.Frontend.Auth;
using Dispatcher.Frontend.Cluster;
using Dispatcher.Frontend.Forwarding;
using Dispatcher.Frontend.Logging;
using Dispatcher.Frontend.Models;
using Dispatcher.Frontend.Telemetry;
using Dispatcher.Silo;
using Dispatcher.Silo.Dashboard;
using Dispatcher.Silo.Health;
using Dispatcher.Silo.Hosting;
using Dispatcher.Silo.Telemetry;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Dispatcher.Frontend;

/// <summary>Composes the Frontend: the table of contents of <c>Program.cs</c>, shared with the tests.</summary>
public static class FrontendHostingExtensions
{
    /// <summary>The address used when none is configured (<c>--urls</c>, <c>ASPNETCORE_URLS</c>, <c>Kestrel:Endpoints</c>).</summary>
    public const string DefaultUrl = "http://0.0.0.0:8080";

    /// <summary>
    /// Registers the Frontend's services, with an Orleans silo co-hosted in this process or, with
    /// <c>Dispatcher:Cluster:Mode=Client</c>, as an Orleans client of the silo processes.
    /// </summary>
    public static WebApplicationBuilder AddDispatcherFrontend(this WebApplicationBuilder builder, string defaultUrl = DefaultUrl)
    {
        var configuration = builder.Configuration;
        if (string.IsNullOrEmpty(configuration[WebHostDefaults.ServerUrlsKey])
            && string.IsNullOrEmpty(configuration["http_ports"])
            && !configuration.GetSection("Kestrel:Endpoints").Exists())
        {
            builder.WebHost.UseUrls(defaultUrl);
        }

        if (configuration.GetValue<bool>("Dispatcher:Logging:Json"))
        {
            // One JSON object per line with scopes, so every line of a request carries its RequestId.
            builder.Logging.ClearProviders();
            builder.Logging.AddJsonConsole(o =>
            {
                o.IncludeScopes = true;
                o.UseUtcTimestamp = true;
                o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
            });
        }

        var forwarding = configuration.GetSection(ForwardingOptions.SectionName).Get<ForwardingOptions>() ?? new ForwardingOptions();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Limits.MaxRequestBodySize = forwarding.MaxRequestBodySize);

        var services = builder.Services;
        services.AddOptions<ForwardingOptions>().BindConfiguration(ForwardingOptions.SectionName)
            .Validate(o => o.ConnectTimeout > TimeSpan.Zero, $"{ForwardingOptions.SectionName}:ConnectTimeout must be positive.")
            .Validate(o => o.ActivityTimeout > TimeSpan.Zero, $"{ForwardingOptions.SectionName}:ActivityTimeout must be positive.")
            .Validate(o => o.MaxRequestBodySize > 0, $"{ForwardingOptions.SectionName}:MaxRequestBodySize must be positive.")
            .ValidateOnStart();
        if (SiloHostingExtensions.ClusterSettings(configuration).Mode == ClusterMode.Client)
        {
            builder.AddDispatcherClient(); // the grains run in silo processes
        }
        else
        {
            builder.AddDispatcherSilo(joinCluster: false); // the embedded default: a silo co-hosted in this process
        }

        services.TryAddSingleton<ClusterCall>();
        services.TryAddSingleton<LeaseRenewer>();
        services.AddHostedService(sp => sp.GetRequiredService<LeaseRenewer>());

        services.AddHttpForwarder();
        services.TryAddSingleton<UpstreamClient>();
        services.TryAddSingleton<ModelCatalog>();
        services.TryAddSingleton<LeaseForwarder>();
        services.TryAddSingleton<BearerTokenFilter>();
        services.TryAddSingleton<FailedAuthLimiter>();
        services.TryAddSingleton<TokenPolicyCache>();
        services.AddOptions<AuthOptions>().BindConfiguration(AuthOptions.SectionName)
            .Validate(o => o.MaxFailedAttemptsPerMinute >= 0, $"{AuthOptions.SectionName}:MaxFailedAttemptsPerMinute must not be negative.")
            .Validate(o => o.PolicyCacheDuration >= TimeSpan.Zero, $"{AuthOptions.SectionName}:PolicyCacheDuration must not be negative.");
        services.TryAddSingleton<FrontendMetrics>();
        services.TryAddSingleton<PrometheusMetrics>();
        builder.AddDispatcherTelemetry("dispatcher-frontend");

        return builder;
    }

    /// <summary>Maps the health probes and the OpenAI-compatible API.</summary>
    public static WebApplication MapDispatcherFrontend(this WebApplication app)
    {
        app.UseMiddleware<RequestIdMiddleware>();
        app.MapDispatcherHealthChecks();
        app.MapDispatcherMetrics();
        app.MapOpenAiApi();
        app.MapDashboard();
        return app;
    }
}
