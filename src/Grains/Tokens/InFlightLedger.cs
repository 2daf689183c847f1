using Dispatcher.Grains.Abstractions.Models;
using Microsoft.Extensions.Logging;

namespace Dispatcher.Grains.Tokens;

/// <summary>
/// Counts, per token, the leases held in this silo across all models, for tokens with an in-flight limit.
/// Model grains take a slot before granting such a token's request; a model that finds the token at its
/// limit watches it and is told (through <see cref="IModelGrain.OnTokenReleasedAsync"/>) when a slot frees.
/// A plain thread-safe service rather than a grain because the check sits inside a grant decision, which
/// must stay synchronous. Across silos each ledger sees its own silo's leases.
/// </summary>
internal sealed partial class InFlightLedger(IGrainFactory grains, ILogger<InFlightLedger> logger)
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, int> _inFlight = new(StringComparer.Ordinal);
    private readonly Dictionary<string, HashSet<string>> _watchers = new(StringComparer.Ordinal);

    /// <summary>Takes one of <paramref name="tokenId"/>'s <paramref name="max"/> slots, if one is free.</summary>
    public bool TryAcquire(string tokenId, int max)
    {
        lock (_gate)
        {
            var count = _inFlight.GetValueOrDefault(tokenId);
            if (count >= max)
            {
                return false;
            }

            _inFlight[tokenId] = count + 1;
            return true;
        }
    }

    /// <summary>Takes a slot whatever the limit: a lease adopted from another silo, whose request already runs.</summary>
    public void Adopt(string tokenId)
    {
        lock (_gate)
        {
            _inFlight[tokenId] = _inFlight.GetValueOrDefault(tokenId) + 1;
        }
    }

    /// <summary>Forgets <paramref name="model"/> as a watcher of every token (the model's grain is going away).</summary>
    public void Unwatch(string model)
    {
        lock (_gate)
        {
            foreach (var models in _watchers.Values)
            {
                models.Remove(model);
            }
        }
    }

    /// <summary>Asks that <paramref name="model"/> be told when one of <paramref name="tokenId"/>'s slots frees.</summary>
    public void Watch(string tokenId, string model)
    {
        lock (_gate)
        {
            if (!_watchers.TryGetValue(tokenId, out var models))
            {
                _watchers[tokenId] = models = new HashSet<string>(StringComparer.Ordinal);
            }

            models.Add(model);
        }
    }

    /// <summary>Gives a slot back and tells the models that were waiting for one.</summary>
    public void Release(string tokenId)
    {
        HashSet<string>? watchers;
        lock (_gate)
        {
            var count = _inFlight.GetValueOrDefault(tokenId) - 1;
            if (count > 0)
            {
                _inFlight[tokenId] = count;
            }
            else
            {
                _inFlight.Remove(tokenId);
            }

            _watchers.Remove(tokenId, out watchers);
        }

        foreach (var model in watchers ?? [])
        {
            _ = NotifyAsync(model, tokenId);
        }
    }

    /// <summary>Slots of <paramref name="tokenId"/> in use now.</summary>
    public int InFlight(string tokenId)
    {
        lock (_gate)
        {
            return _inFlight.GetValueOrDefault(tokenId);
        }
    }

    private async Task NotifyAsync(string model, string tokenId)
    {
        try
        {
            await grains.GetGrain<IModelGrain>(model).OnTokenReleasedAsync(tokenId, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception exception)
        {
            Log.NotifyFailed(logger, exception, model);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(GrainsEventIds.LedgerNotifyFailed, LogLevel.Error, "Telling model {Model} that a token slot freed failed")]
        public static partial void NotifyFailed(ILogger logger, Exception exception, string model);
    }
}
