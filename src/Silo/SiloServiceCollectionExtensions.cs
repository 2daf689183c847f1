using Dispatcher.Grains;
using Dispatcher.Grains.Abstractions;
using Dispatcher.Grains.Abstractions.Configuration;
using Dispatcher.Grains.Backends;
using Dispatcher.Grains.Tokens;
using Dispatcher.Silo.Tokens;
using Microsoft.Extensions.Configuration;
using Dispatcher.Silo.Activation;
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
            services.AddHostedService<MigrationService>();
            services.AddHostedService<TokenChangeListener>();
        }

        services.AddDispatcherGrains();
        services.AddOptions<SiloOptions>().BindConfiguration(SiloOptions.SectionName)
            .Validate(o => o.IdleTimeout > TimeSpan.Zero, $"{SiloOptions.SectionName}:IdleTimeout must be positive.")
            .Validate(o => o.CollectionPeriod > TimeSpan.Zero, $"{SiloOptions.SectionName}:CollectionPeriod must be positive.")
            .ValidateOnStart();
        services.TryAddSingleton<IReplicaProbe, HttpReplicaProbe>();
        services.TryAddSingleton<LocalSilo>();
        services.TryAddSingleton<IGrainFactory>(sp => sp.GetRequiredService<LocalSilo>());
        services.AddHostedService<IdleCollectionService>();
        return services;
    }
}
