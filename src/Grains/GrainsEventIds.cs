namespace Dispatcher.Grains;

/// <summary>Stable event ids of the grains' log messages (1000-1999).</summary>
internal static class GrainsEventIds
{
    public const int ModelActivated = 1000;
    public const int LeaseGranted = 1001;
    public const int LeaseReleased = 1002;
    public const int LeaseExpired = 1003;
    public const int WaiterTimedOut = 1004;
    public const int BackendChanged = 1005;
    public const int GrainCallFailed = 1006;
    public const int ReplicaEjected = 1007;
    public const int ReplicaRestored = 1008;
    public const int ScrapeFailed = 1009;
    public const int NoVllmMetrics = 1010;
    public const int ReplicaRestarted = 1011;
    public const int LeaseAdopted = 1012;
    public const int AdoptionRefused = 1013;
    public const int HolderLost = 1014;
    public const int WaitersStopped = 1015;
    public const int ModelDeactivating = 1016;
    public const int ReplicaJoined = 1017;
    public const int ReplicaDraining = 1018;
    public const int ReplicaDropped = 1019;
}
