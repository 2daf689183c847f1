namespace Dispatcher.Silo.Cluster;

/// <summary>
/// The <c>Dispatcher:Cluster</c> section: how a silo process (<c>Dispatcher.Silo serve</c>) listens and, with
/// <c>ConnectionStrings:Postgres</c> set, how it takes part in the cluster.
/// </summary>
public sealed class ClusterOptions
{
    /// <summary>The configuration section name.</summary>
    public const string SectionName = "Dispatcher:Cluster";

    /// <summary>This silo's id in the membership table; unique in the cluster. Default: host name and a random suffix.</summary>
    public string? SiloId { get; set; }

    /// <summary>The internal endpoint frontends call: HTTP/2 without TLS. Default <c>http://0.0.0.0:8081</c>.</summary>
    public string InternalUrl { get; set; } = "http://0.0.0.0:8081";

    /// <summary>Health probes, <c>/metrics</c> and the dashboard: HTTP/1.1. Default <c>http://0.0.0.0:8082</c>.</summary>
    public string ManagementUrl { get; set; } = "http://0.0.0.0:8082";

    /// <summary>
    /// The address other processes reach <see cref="InternalUrl"/> at (in Kubernetes, the pod IP). Default: the host
    /// name with the internal port.
    /// </summary>
    public string? AdvertisedAddress { get; set; }

    /// <summary>
    /// When set, every call to the internal endpoint must carry this secret as a bearer token (frontends send
    /// <c>Dispatcher:Silo:InternalKey</c>); without it, anyone who reaches the port could take leases. Keep the port
    /// private as well (the Helm chart adds a NetworkPolicy).
    /// </summary>
    public string? InternalKey { get; set; }

    /// <summary>How often the silo refreshes its heartbeat and looks for models to take. Default 1 s.</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// How long a silo keeps serving its models without a successful heartbeat (the database down or out of reach):
    /// short outages pass unnoticed. A silo taking a model from a silo that did not hand it over waits until that silo's
    /// last heartbeat is this old, unless nothing listens at that silo's address any more (its process died). So a
    /// crashed process's models move within about a heartbeat, a lost host's within this. Must exceed
    /// <see cref="HeartbeatInterval"/>. Default 10 s.
    /// </summary>
    public TimeSpan OwnershipTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>A member whose heartbeat is older than this is dead even if its database session lingers. Default 15 s.</summary>
    public TimeSpan MemberTimeout { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>
    /// A model nobody holds is taken by the silo that rendezvous hashing prefers; after this long without an owner,
    /// by any silo. Default 3 s.
    /// </summary>
    public TimeSpan TakeoverGrace { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>
    /// A silo that has been a member this long receives the models that rendezvous hashing gives it from the silos
    /// holding them, one model per heartbeat per silo. Default 10 s.
    /// </summary>
    public TimeSpan RebalanceDelay { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The most a handover waits for a model's open calls to end before the model goes anyway. Default 10 s.</summary>
    public TimeSpan HandoverTimeout { get; set; } = TimeSpan.FromSeconds(10);
}
