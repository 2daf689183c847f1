using Dispatcher.Grains.Abstractions;
using Dispatcher.Grains.Abstractions.Models;
using Dispatcher.Grains.Abstractions.Tokens;

namespace Dispatcher.Silo.Client;

/// <summary>
/// The grain factory of a Frontend whose silos run elsewhere: model and token grains are reached over the silos'
/// internal endpoint; the Frontend's own code is the same as with the co-hosted silo.
/// </summary>
internal sealed class RemoteGrainFactory(RemoteSiloClient client) : IGrainFactory
{
    public TGrain GetGrain<TGrain>(string key) where TGrain : class, IGrainWithStringKey
    {
        ArgumentNullException.ThrowIfNull(key);
        object grain = typeof(TGrain) == typeof(IModelGrain) ? new RemoteModelGrain(key, client)
            : typeof(TGrain) == typeof(ITokenGrain) ? new RemoteTokenGrain(key, client)
            : throw new NotSupportedException($"{typeof(TGrain).Name} grains live inside the silos; a Frontend calls model and token grains only.");
        return (TGrain)grain;
    }
}
