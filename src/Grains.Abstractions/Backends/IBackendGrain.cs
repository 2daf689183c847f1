using Dispatcher.Grains.Abstractions.Models;
using Orleans.Concurrency;

namespace Dispatcher.Grains.Abstractions.Backends;

/// <summary>
/// One per vLLM replica (key: the replica's base address, e.g. <c>http://10.0.0.7:8000</c>). Knows the
/// replica's capacity and health and tells the subscribed <see cref="IModelGrain"/>s when they change.
/// </summary>
[Alias("dispatcher.IBackendGrain")]
public interface IBackendGrain : IGrainWithStringKey
{
    /// <summary>Registers <paramref name="model"/> for change notices and returns the current snapshot.</summary>
    [Alias("Subscribe")]
    Task<BackendSnapshot> SubscribeAsync(string model, CancellationToken cancellationToken);

    /// <summary>Stops change notices to <paramref name="model"/>.</summary>
    [Alias("Unsubscribe"), OneWay]
    Task UnsubscribeAsync(string model, CancellationToken cancellationToken);

    /// <summary>
    /// A frontend could not reach the replica (connection refused or reset before any answer): it is ejected at
    /// once and probed until it answers again.
    /// </summary>
    [Alias("ReportUnreachable")]
    Task ReportUnreachableAsync(string reason, CancellationToken cancellationToken);

    /// <summary>The replica's state as last known.</summary>
    [Alias("GetSnapshot")]
    Task<BackendSnapshot> GetSnapshotAsync(CancellationToken cancellationToken);
}
