using Dispatcher.Grains.Abstractions.Backends;
using Dispatcher.Grains.Abstractions.Models;
using Dispatcher.Grains.Abstractions.Tokens;
using Dispatcher.Grains.Backends;
using Dispatcher.Grains.Models;
using Dispatcher.Grains.Runtime;
using Dispatcher.Grains.Telemetry;
using Dispatcher.Grains.Tokens;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Dispatcher.Grains;

/// <summary>Registers the dispatcher's grains with a host.</summary>
public static class GrainsServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="IModelGrain"/>, <see cref="IBackendGrain"/>, <see cref="ITokenGrain"/> and the token
    /// store from configuration (unless another <see cref="ITokenStore"/> was registered first).
    /// </summary>
    public static IServiceCollection AddDispatcherGrains(this IServiceCollection services)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<ITokenStore, ConfigurationTokenStore>();
        services.TryAddSingleton<InFlightLedger>();
        services.TryAddSingleton<GrainsMetrics>();
        services.AddGrain<IModelGrain, ModelGrain>();
        services.AddGrain<IBackendGrain, BackendGrain>();
        services.AddGrain<ITokenGrain, TokenGrain>();
        return services;
    }

    private static void AddGrain<TInterface, TGrain>(this IServiceCollection services)
        where TGrain : Grain, TInterface
    {
        var registered = services.Any(d =>
            d.ServiceType == typeof(GrainRegistration)
            && d.ImplementationInstance is GrainRegistration r
            && r.Interface == typeof(TInterface));
        if (!registered)
        {
            services.AddSingleton(new GrainRegistration(typeof(TInterface), typeof(TGrain)));
        }
    }
}
