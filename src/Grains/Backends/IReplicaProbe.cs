namespace Dispatcher.Grains.Backends;

/// <summary>How backend grains reach their replica. Implemented over HTTP by the silo; faked in tests. Thread-safe.</summary>
public interface IReplicaProbe
{
    /// <summary>Reads the replica's <c>/metrics</c>. Answers a failure (never throws) when it cannot.</summary>
    Task<ProbeResult> ScrapeAsync(Uri replica, CancellationToken cancellationToken);

    /// <summary>True when the replica's <c>/health</c> answers 200.</summary>
    Task<bool> IsHealthyAsync(Uri replica, CancellationToken cancellationToken);
}
