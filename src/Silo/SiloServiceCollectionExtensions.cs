using Dispatcher.Grains;
using Dispatcher.Grains.Abstractions;
using Dispatcher.Grains.Abstractions.Configuration;
using Dispatcher.Grains.Backends;
using Dispatcher.Grains.Tokens;
using Dispatcher.Silo.Activation;
using Dispatcher.Silo.Client;
using Dispatcher.Silo.Cluster;
using Dispatcher.Silo.Database;
using Dispatcher.Silo.Remote;
using Dispatcher.Silo.Tokens;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Dispatcher.Silo;

/// <summary>Registers the silo with a host.</summary>
public static class SiloServiceCollectionExtensions
{
    /// <summary>
    /// Binds and validates the <c>Dispatcher</c> section (at start; messages name the setting at fault).
    /// </summary>
    public static IServiceCollection AddDispatcherOptions(this IServiceCollection services)
    {
        services.AddOptions<DispatcherOptions>().BindConfiguration(DispatcherOptions.SectionName).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<DispatcherOptions>, ValidateDispatcherOptions>());
        return services;
    }

    /// <summary>The connection string name: <c>ConnectionStrings:Postgres</c>.</summary>
    public const string PostgresConnectionName = "Postgres";

    /// <summary>
    /// Hosts the dispatcher's grains in this process and registers <see cref="IGrainFactory"/> for them:
    /// the embedded default, where the Frontend co-hosts its silo. With <c>ConnectionStrings:Postgres</c> set,
    /// tokens live in PostgreSQL (migrated at start, changes announced by notification); without, in
    /// configuration.
    /// </summary>
    public static IServiceCollection AddInProcessSilo(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddDispatcherOptions();
        if (configuration.GetConnectionString(PostgresConnectionName) is { Length: > 0 } connectionString)
        {
            services.TryAddSingleton(_ => NpgsqlDataSource.Create(connectionString));
            services.TryAddSingleton<ITokenStore, PostgresTokenStore>();
            services.TryAddSingleton<MigrationService>();
            services.AddHostedService(sp => sp.GetRequiredService<MigrationService>());
            services.AddHostedService<TokenChangeListener>();
        }

        services.AddDispatcherGrains();
        services.AddOptions<SiloOptions>().BindConfiguration(SiloOptions.SectionName)
            .Validate(o => o.IdleTimeout > TimeSpan.Zero, $"{SiloOptions.SectionName}:IdleTimeout must be positive.")
            .Validate(o => o.CollectionPeriod > TimeSpan.Zero, $"{SiloOptions.SectionName}:CollectionPeriod must be positive.")
            .ValidateOnStart();
        services.TryAddSingleton<IReplicaProbe, HttpReplicaProbe>();
        services.TryAddSingleton<IActivationGate, OpenActivationGate>();
        services.TryAddSingleton<IModelPlacement, StandalonePlacement>();
        services.TryAddSingleton<LocalSilo>();
        services.TryAddSingleton<IGrainFactory>(sp => sp.GetRequiredService<LocalSilo>());
        services.AddHostedService<IdleCollectionService>();
        return services;
    }

    /// <summary>
    /// Hosts the grains as a silo process (<c>Dispatcher.Silo serve</c>) serving frontends over its internal endpoint.
    /// With <c>ConnectionStrings:Postgres</c> set the silo joins the cluster kept in that database (membership,
    /// single activation per model, failover); without, it serves every model on its own.
    /// </summary>
    public static IServiceCollection AddSiloProcess(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<ClusterOptions>().BindConfiguration(ClusterOptions.SectionName)
            .PostConfigure(ClusterDefaults.Apply)
            .Validate(o => o.HeartbeatInterval > TimeSpan.Zero, $"{ClusterOptions.SectionName}:HeartbeatInterval must be positive.")
            .Validate(o => o.OwnershipTimeout > o.HeartbeatInterval, $"{ClusterOptions.SectionName}:OwnershipTimeout must exceed HeartbeatInterval.")
            .Validate(o => o.MemberTimeout >= o.OwnershipTimeout, $"{ClusterOptions.SectionName}:MemberTimeout must be at least OwnershipTimeout.")
            .Validate(o => o.TakeoverGrace >= TimeSpan.Zero && o.RebalanceDelay >= TimeSpan.Zero, $"{ClusterOptions.SectionName}:TakeoverGrace and RebalanceDelay must not be negative.")
            .Validate(o => o.HandoverTimeout > TimeSpan.Zero, $"{ClusterOptions.SectionName}:HandoverTimeout must be positive.")
            .Validate(o => ClusterDefaults.IsHttpUrl(o.AdvertisedAddress), $"{ClusterOptions.SectionName}:AdvertisedAddress must be an http:// address other processes can reach.")
            .ValidateOnStart();
        services.TryAddSingleton<LeaseCalls>();
        if (configuration.GetConnectionString(PostgresConnectionName) is { Length: > 0 })
        {
            services.TryAddSingleton<ModelOwnership>();
            services.TryAddSingleton<IActivationGate>(sp => sp.GetRequiredService<ModelOwnership>());
            services.TryAddSingleton<IModelPlacement, ClusterPlacement>();
            services.TryAddSingleton<ClusterMembership>();
            services.AddHostedService(sp => sp.GetRequiredService<ClusterMembership>());
        }

        return services.AddInProcessSilo(configuration);
    }

    /// <summary>
    /// Makes this Frontend call remote silos (<c>Dispatcher:Silo:Addresses</c>) through <see cref="IGrainFactory"/>
    /// instead of co-hosting one.
    /// </summary>
    public static IServiceCollection AddRemoteSilo(this IServiceCollection services)
    {
        services.AddDispatcherOptions();
        services.AddOptions<RemoteSiloOptions>().BindConfiguration(RemoteSiloOptions.SectionName)
            .Validate(o => o.Addresses.Count > 0 && o.Addresses.TrueForAll(ClusterDefaults.IsHttpUrl), $"{RemoteSiloOptions.SectionName}:Addresses must list http:// silo addresses.")
            .Validate(o => o.FailoverTimeout > TimeSpan.Zero && o.ConnectTimeout > TimeSpan.Zero && o.CallTimeout > TimeSpan.Zero, $"{RemoteSiloOptions.SectionName}: timeouts must be positive.")
            .ValidateOnStart();
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<SiloConnection>();
        services.TryAddSingleton<SiloDirectory>();
        services.TryAddSingleton<RemoteLeases>();
        services.TryAddSingleton<RemoteSiloClient>();
        services.TryAddSingleton<IGrainFactory, RemoteGrainFactory>();
        return services;
    }

    /// <summary>True when <c>Dispatcher:Silo:Addresses</c> is configured: the Frontend then runs against remote silos.</summary>
    public static bool HasRemoteSilo(IConfiguration configuration) =>
        configuration.GetSection(RemoteSiloOptions.SectionName + ":Addresses").GetChildren().Any();
}
