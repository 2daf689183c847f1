using System.Net;
using Dispatcher.Grains;
using Dispatcher.Grains.Abstractions.Configuration;
using Dispatcher.Grains.Backends;
using Dispatcher.Grains.Tokens;
using Dispatcher.Silo.Backends;
using Dispatcher.Silo.Dashboard;
using Dispatcher.Silo.Discovery;
using Dispatcher.Silo.Database;
using Dispatcher.Silo.Health;
using Dispatcher.Silo.Telemetry;
using Dispatcher.Silo.Hosting;
using Dispatcher.Silo.Tokens;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Npgsql;
using Orleans.Configuration;
using Orleans.Dashboard;

namespace Dispatcher.Silo;

/// <summary>Puts a process into the Orleans cluster: as a silo hosting the grains, or as a client of the silos.</summary>
public static class SiloHostingExtensions
{
    /// <summary>The connection string name: <c>ConnectionStrings:Postgres</c> (tokens and Orleans membership).</summary>
    public const string PostgresConnectionName = "Postgres";

    /// <summary>The ADO.NET invariant Orleans' clustering provider loads for PostgreSQL.</summary>
    private const string NpgsqlInvariant = "Npgsql";

    /// <summary>Binds and validates the <c>Dispatcher</c> section (at start; messages name the setting at fault).</summary>
    public static IServiceCollection AddDispatcherOptions(this IServiceCollection services)
    {
        services.AddOptions<DispatcherOptions>().BindConfiguration(DispatcherOptions.SectionName).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<DispatcherOptions>, ValidateDispatcherOptions>());
        services.AddOptions<Hosting.ClusterOptions>().BindConfiguration(Hosting.ClusterOptions.SectionName)
            .Validate(o => o.SiloPort is > 0 and < 65536 && o.GatewayPort is > 0 and < 65536, $"{Hosting.ClusterOptions.SectionName}:SiloPort and GatewayPort must be TCP ports.")
            .Validate(o => o.FailoverTimeout > TimeSpan.Zero && o.RenewInterval > TimeSpan.Zero, $"{Hosting.ClusterOptions.SectionName}:FailoverTimeout and RenewInterval must be positive.")
            .Validate(o => string.IsNullOrEmpty(o.AdvertisedAddress) || IPAddress.TryParse(o.AdvertisedAddress, out _), $"{Hosting.ClusterOptions.SectionName}:AdvertisedAddress must be an IP address.")
            .ValidateOnStart();
        return services;
    }

    /// <summary>The <c>Dispatcher:Cluster</c> section as configured now (for choices made while the host is built).</summary>
    public static Hosting.ClusterOptions ClusterSettings(IConfiguration configuration) =>
        configuration.GetSection(Hosting.ClusterOptions.SectionName).Get<Hosting.ClusterOptions>() ?? new Hosting.ClusterOptions();

    /// <summary>
    /// Hosts the dispatcher's grains in this process (an Orleans silo). With <paramref name="joinCluster"/> and
    /// <c>ConnectionStrings:Postgres</c> set, the silo joins the cluster whose membership is in that database (and, in a
    /// Kubernetes pod, uses Orleans' Kubernetes hosting); otherwise it is a cluster of one on loopback (the embedded
    /// default). With a database, tokens live there (migrated at start, changes announced by notification); without,
    /// in configuration.
    /// </summary>
    public static IHostApplicationBuilder AddDispatcherSilo(this IHostApplicationBuilder builder, bool joinCluster)
    {
        var services = builder.Services;
        services.AddDispatcherOptions();
        var connectionString = builder.Configuration.GetConnectionString(PostgresConnectionName);
        if (connectionString is { Length: > 0 })
        {
            services.TryAddSingleton(_ => NpgsqlDataSource.Create(connectionString));
            services.TryAddSingleton<ITokenStore, PostgresTokenStore>();
            services.TryAddSingleton<MigrationService>();
            services.AddHostedService(sp => sp.GetRequiredService<MigrationService>());
            services.AddHostedService<TokenChangeListener>();
        }

        services.AddDispatcherGrains();
        services.TryAddSingleton<IReplicaProbe, HttpReplicaProbe>();
        services.Configure<KubernetesOptions>(builder.Configuration.GetSection(KubernetesOptions.SectionName));
        services.AddHostedService<EndpointSliceWatcher>();
        services.AddDispatcherHealthChecks<SiloActiveHealthCheck>(builder.Configuration);
        services.TryAddSingleton<ClusterMetrics>();
        var cluster = ClusterSettings(builder.Configuration);
        var traced = OpenTelemetryExport.Settings(builder.Configuration).OtlpEndpoint is not null;
        var dashboard = DashboardApi.IsEnabled(builder.Configuration);
        builder.UseOrleans(silo =>
        {
            silo.Configure<Orleans.Configuration.ClusterOptions>(o => (o.ClusterId, o.ServiceId) = (cluster.ClusterId, cluster.ServiceId));
            if (traced)
            {
                silo.AddActivityPropagation(); // a grain call continues its caller's trace
            }

            if (dashboard)
            {
                silo.AddDashboard(); // its grain service and call filter (5-10 % of client-to-silo throughput measured)
            }

            if (joinCluster && connectionString is { Length: > 0 })
            {
                silo.UseAdoNetClustering(o => (o.Invariant, o.ConnectionString) = (NpgsqlInvariant, connectionString));
                if (cluster.Tls.Enabled)
                {
                    silo.UseTls(tls => ClusterTls.Configure(tls, cluster.Tls)); // silo to silo, and the gateway
                }

                if (Environment.GetEnvironmentVariable("POD_NAMESPACE") is { Length: > 0 })
                {
                    silo.UseKubernetesHosting(); // silo name and address from the pod; dead pods leave membership at once
                }
                else if (IPAddress.TryParse(cluster.AdvertisedAddress, out var advertised))
                {
                    silo.ConfigureEndpoints(advertised, cluster.SiloPort, cluster.GatewayPort, listenOnAnyHostAddress: !IPAddress.IsLoopback(advertised));
                }
                else
                {
                    silo.ConfigureEndpoints(cluster.SiloPort, cluster.GatewayPort, listenOnAnyHostAddress: true);
                }

                silo.Configure<ClusterMembershipOptions>(o =>
                {
                    o.ProbeTimeout = cluster.ProbeTimeout;
                    o.NumMissedProbesLimit = cluster.MissedProbesLimit;
                    o.NumVotesForDeathDeclaration = cluster.VotesForDeathDeclaration;
                    o.TableRefreshTimeout = cluster.TableRefreshTimeout;
                    o.IAmAliveTablePublishTimeout = TimeSpan.FromSeconds(5);
                    o.DeathVoteExpirationTimeout = TimeSpan.FromSeconds(10);
                    o.DefunctSiloExpiration = TimeSpan.FromMinutes(1);
                });
            }
            else
            {
                silo.UseLocalhostClustering(cluster.SiloPort, cluster.GatewayPort, serviceId: cluster.ServiceId, clusterId: cluster.ClusterId);
            }

            // A call that times out at its caller is cancelled in the grain too (measured: otherwise it stays).
            silo.Configure<SiloMessagingOptions>(o => o.CancelRequestOnTimeout = true);

            // One activation of a model grain, also while silos come and go: Orleans' default directory is eventually
            // consistent and let two (even three) activations of the model grain run for 15 s or more in our rolling
            // restarts on a loaded machine, each with its own wait list, until one was deactivated as a directory failure.
            // The strongly consistent directory (experimental in Orleans 10) locks ranges while membership changes. Its
            // range leases are off: after a silo's death they held its grains back for about 22 s (30 s minus the
            // failure detection time), longer than the failover timeout; without them, only a silo declared dead while
            // still alive could keep a second activation, until it reads the membership table (TableRefreshTimeout).
#pragma warning disable ORLEANSEXP003
            silo.AddDistributedGrainDirectory();
#pragma warning restore ORLEANSEXP003
            silo.Configure<GrainDirectoryOptions>(o => o.RangeLeaseDuration = TimeSpan.Zero);
        });
        return builder;
    }

    /// <summary>
    /// Makes this process an Orleans client of the silos whose gateways are listed in PostgreSQL's membership table
    /// (<c>ConnectionStrings:Postgres</c>): a Frontend with <c>Dispatcher:Cluster:Mode=Client</c>. Its start waits until a
    /// gateway answers, retrying every second.
    /// </summary>
    public static IHostApplicationBuilder AddDispatcherClient(this IHostApplicationBuilder builder)
    {
        builder.Services.AddDispatcherOptions();
        var connectionString = builder.Configuration.GetConnectionString(PostgresConnectionName);
        if (string.IsNullOrEmpty(connectionString))
        {
            throw new OptionsValidationException(Hosting.ClusterOptions.SectionName, typeof(Hosting.ClusterOptions),
                ["Dispatcher:Cluster:Mode=Client needs ConnectionStrings:Postgres (the silos' membership table)."]);
        }

        builder.Services.TryAddSingleton<GatewayConnections>();
        builder.Services.AddDispatcherHealthChecks<ClusterClientHealthCheck>(builder.Configuration);
        var cluster = ClusterSettings(builder.Configuration);
        var traced = OpenTelemetryExport.Settings(builder.Configuration).OtlpEndpoint is not null;
        builder.UseOrleansClient(client =>
        {
            if (traced)
            {
                client.AddActivityPropagation();
            }

            if (DashboardApi.IsEnabled(builder.Configuration))
            {
                client.AddDashboard(); // served by this Frontend; its data comes from the silos' dashboard grains
            }

            client.Services.AddSingleton<IClusterConnectionStatusObserver>(sp => sp.GetRequiredService<GatewayConnections>());
            client.Configure<Orleans.Configuration.ClusterOptions>(o => (o.ClusterId, o.ServiceId) = (cluster.ClusterId, cluster.ServiceId));
            client.UseAdoNetClustering(o => (o.Invariant, o.ConnectionString) = (NpgsqlInvariant, connectionString));
            if (cluster.Tls.Enabled)
            {
                client.UseTls(tls => ClusterTls.Configure(tls, cluster.Tls));
            }

            client.Configure<GatewayOptions>(o => o.GatewayListRefreshPeriod = cluster.GatewayListRefreshPeriod);
            client.Configure<ClientMessagingOptions>(o => o.CancelRequestOnTimeout = true);
            client.UseConnectionRetryFilter(async (_, cancellationToken) =>
            {
                await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken).ConfigureAwait(false);
                return true;
            });
        });
        return builder;
    }
}
