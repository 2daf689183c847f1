using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Dispatcher.Silo.Activation;

/// <summary>Runs the silo's idle collection on a timer and deactivates every grain when the host stops.</summary>
internal sealed class IdleCollectionService(LocalSilo silo, IOptions<SiloOptions> options, TimeProvider time) : IHostedService, IDisposable
{
    private ITimer? _timer;
    private int _collecting;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        var period = options.Value.CollectionPeriod;
        _timer = time.CreateTimer(_ => Collect(), null, period, period);
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        _timer?.Dispose();
        await silo.DisposeAsync();
    }

    public void Dispose() => _timer?.Dispose();

    private void Collect()
    {
        if (Interlocked.Exchange(ref _collecting, 1) == 1)
        {
            return;
        }

        _ = CollectAsync();
    }

    private async Task CollectAsync()
    {
        try
        {
            await silo.CollectIdleAsync(options.Value.IdleTimeout);
        }
        finally
        {
            Volatile.Write(ref _collecting, 0);
        }
    }
}
