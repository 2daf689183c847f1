using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Dispatcher.Silo.Client;

/// <summary>What the remote grain references of one Frontend share: connections, the directory, the leases held.</summary>
internal sealed class RemoteSiloClient(SiloConnection http, SiloDirectory directory, RemoteLeases leases, IOptions<RemoteSiloOptions> options, TimeProvider time, ILogger<RemoteSiloClient> logger)
{
    private readonly ConcurrentDictionary<string, ResubmitOrder> _orders = new(StringComparer.Ordinal);

    public SiloConnection Http => http;

    public SiloDirectory Directory => directory;

    public RemoteLeases Leases => leases;

    public RemoteSiloOptions Options => options.Value;

    public TimeProvider Time => time;

    public ILogger Logger => logger;

    /// <summary>The order in which this Frontend's requests for <paramref name="model"/> arrived.</summary>
    public ResubmitOrder OrderOf(string model) => _orders.GetOrAdd(model, _ => new ResubmitOrder(time));
}
