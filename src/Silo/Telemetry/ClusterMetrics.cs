using System.Diagnostics.Metrics;

namespace Dispatcher.Silo.Telemetry;

/// <summary>
/// The cluster as this silo sees it (meter <c>Dispatcher.Silo</c>): <c>dispatcher_cluster_silos{status}</c>, the silos in
/// the membership table by status (active, joining, shutting_down, dead, ...), read at each scrape.
/// </summary>
public sealed class ClusterMetrics
{
    public const string MeterName = "Dispatcher.Silo";

    public ClusterMetrics(IMeterFactory meterFactory, IClusterMembershipService membership)
    {
        var meter = meterFactory.Create(MeterName);
        meter.CreateObservableGauge("dispatcher.cluster.silos", () => Silos(membership), "{silo}",
            "Silos in the cluster's membership by status, as this silo sees it: alert when active ones are fewer than expected.");
    }

    private static IEnumerable<Measurement<int>> Silos(IClusterMembershipService membership) =>
        membership.CurrentSnapshot.Members.Values
            .Where(m => m.Status != SiloStatus.None)
            .GroupBy(m => m.Status)
            .Select(g => new Measurement<int>(g.Count(), new KeyValuePair<string, object?>("status", Status(g.Key))));

    private static string Status(SiloStatus status) => status switch
    {
        SiloStatus.ShuttingDown => "shutting_down",
        _ => status.ToString().ToLowerInvariant(),
    };
}
