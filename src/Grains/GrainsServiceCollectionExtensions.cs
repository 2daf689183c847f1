using Dispatcher.Grains.Backends;
using Dispatcher.Grains.Telemetry;
using Dispatcher.Grains.Tokens;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Dispatcher.Grains;

/// <summary>Registers what the dispatcher's grains need in a silo (Orleans finds the grain classes itself).</summary>
public static class GrainsServiceCollectionExtensions
{
    /// <summary>
    /// Registers the grains' services: the clock, the token store from configuration (unless another
    /// <see cref="ITokenStore"/> was registered first) and the metrics.
    /// </summary>
    public static IServiceCollection AddDispatcherGrains(this IServiceCollection services)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<ITokenStore, ConfigurationTokenStore>();
        services.TryAddSingleton<GrainsMetrics>();
        services.TryAddSingleton<ReplicaDirectory>();
        return services;
    }
}
