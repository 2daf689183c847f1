using Dispatcher.Grains.Abstractions.Configuration;
using Dispatcher.Silo.Remote;
using Microsoft.Extensions.Options;

namespace Dispatcher.Silo.Cluster;

/// <summary>Where models are hosted, as this silo knows it.</summary>
public interface IModelPlacement
{
    /// <summary>True while this silo hosts <paramref name="model"/>'s grain and may serve its lease calls.</summary>
    bool IsLocal(string model);

    /// <summary>The live silos and the owner of each model, for frontends (<see cref="SiloProtocol.ClusterPath"/>).</summary>
    Task<ClusterView> GetViewAsync(CancellationToken cancellationToken);
}

/// <summary>A silo on its own (no database, or the silo co-hosted in a Frontend): it hosts every model.</summary>
internal sealed class StandalonePlacement(IOptions<DispatcherOptions> dispatcher, IOptions<ClusterOptions> cluster) : IModelPlacement
{
    private readonly SiloMember _self = new(cluster.Value.SiloId ?? "standalone", cluster.Value.AdvertisedAddress ?? cluster.Value.InternalUrl);

    public bool IsLocal(string model) => true;

    public Task<ClusterView> GetViewAsync(CancellationToken cancellationToken) =>
        Task.FromResult(new ClusterView([_self], [.. dispatcher.Value.Models.Select(m => new ModelOwner(m.Name, _self.SiloId, _self.Address, 1))]));
}
