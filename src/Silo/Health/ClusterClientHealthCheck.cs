using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;

namespace Dispatcher.Silo.Health;

/// <summary>
/// Ready while this process's Orleans client is connected to at least one silo's gateway and the process is not
/// stopping. With no gateway connected it asks the cluster once (a short call opens a connection if a silo came
/// back meanwhile), so an idle Frontend taken out of service does not stay out for lack of traffic.
/// </summary>
internal sealed class ClusterClientHealthCheck(GatewayConnections gateways, IClusterClient client, IHostApplicationLifetime lifetime) : IHealthCheck
{
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(2);

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (lifetime.ApplicationStopping.IsCancellationRequested || !lifetime.ApplicationStarted.IsCancellationRequested)
        {
            return HealthCheckResult.Unhealthy(lifetime.ApplicationStopping.IsCancellationRequested ? "stopping" : "starting");
        }

        if (gateways.Connected > 0)
        {
            return HealthCheckResult.Healthy($"{gateways.Connected} gateway(s) connected");
        }

        try
        {
            var silos = await client.GetGrain<IManagementGrain>(0).GetHosts(onlyActive: true, cancellationToken).WaitAsync(ProbeTimeout, cancellationToken);
            return silos.Count > 0 ? HealthCheckResult.Healthy($"{silos.Count} silo(s) active") : HealthCheckResult.Unhealthy("no active silo");
        }
        catch (Exception exception) when (exception is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            return HealthCheckResult.Unhealthy($"no silo reachable ({exception.GetType().Name})");
        }
    }
}

/// <summary>Counts the gateways the Orleans client is connected to, as Orleans reports them.</summary>
internal sealed class GatewayConnections : IClusterConnectionStatusObserver
{
    private int _connected;

    public int Connected => Volatile.Read(ref _connected);

    public void NotifyGatewayCountChanged(int currentNumberOfGateways, int previousNumberOfGateways, bool connectionRecovered) =>
        Volatile.Write(ref _connected, currentNumberOfGateways);

    public void NotifyClusterConnectionLost() => Volatile.Write(ref _connected, 0);
}
