using Dispatcher.Grains.Abstractions.Backends;
using Dispatcher.Grains.Abstractions.Configuration;
using Dispatcher.Grains.Runtime;
using Microsoft.Extensions.Options;

namespace Dispatcher.Grains.Backends;

/// <summary>
/// One vLLM replica. This first version knows the replica's configured capacity (the most leases it takes
/// at once) and reports it healthy; live capacity from the replica's metrics and health probing replace
/// that in a later step behind the same contract.
/// </summary>
internal sealed class BackendGrain(IGrainContext context, IOptions<DispatcherOptions> options) : Grain(context), IBackendGrain
{
    private readonly HashSet<string> _subscribers = new(StringComparer.Ordinal);
    private BackendSnapshot _snapshot = null!;

    public override bool CanDeactivate => _subscribers.Count == 0;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        var address = BackendAddress.TryNormalize(Key)
            ?? throw new InvalidOperationException($"Backend grain key '{Key}' is not an http(s) address.");
        _snapshot = new BackendSnapshot(address, Healthy: true, ConfiguredCapacity(options.Value), Version: 1);
        return Task.CompletedTask;
    }

    public Task<BackendSnapshot> SubscribeAsync(string model, CancellationToken cancellationToken)
    {
        _subscribers.Add(model);
        return Task.FromResult(_snapshot);
    }

    public Task UnsubscribeAsync(string model, CancellationToken cancellationToken)
    {
        _subscribers.Remove(model);
        return Task.CompletedTask;
    }

    public Task<BackendSnapshot> GetSnapshotAsync(CancellationToken cancellationToken) => Task.FromResult(_snapshot);

    /// <summary>The smallest cap among the models served by this replica (a replica may serve aliases).</summary>
    private int ConfiguredCapacity(DispatcherOptions dispatcher)
    {
        int? capacity = null;
        foreach (var model in dispatcher.Models)
        {
            var servesIt = model.Backends.Exists(b =>
                BackendAddress.TryNormalize(b) is { } uri && BackendAddress.Key(uri) == Key);
            if (servesIt)
            {
                var cap = model.MaxConcurrentLeasesPerBackend ?? dispatcher.MaxConcurrentLeasesPerBackend;
                capacity = capacity is null ? cap : Math.Min(capacity.Value, cap);
            }
        }

        return capacity ?? dispatcher.MaxConcurrentLeasesPerBackend;
    }
}
