namespace Dispatcher.Silo.Hosting;

/// <summary>How a process takes part in the Orleans cluster.</summary>
public enum ClusterMode
{
    /// <summary>The Frontend co-hosts a silo (localhost clustering): the embedded default, one process.</summary>
    Embedded,

    /// <summary>The Frontend is an Orleans client of silo processes found in PostgreSQL's membership table.</summary>
    Client,
}

/// <summary>
/// The <c>Dispatcher:Cluster</c> section: cluster identity, silo ports and membership tuning. The tuned defaults
/// declare a silo killed with <c>kill -9</c> dead in about two seconds (Orleans' own defaults take 10 to 18 s), at the
/// cost of more probe traffic and, with one vote to evict, a single silo able to declare another dead: right for two
/// to five silos, raise <see cref="VotesForDeathDeclaration"/> to 2 beyond that.
/// </summary>
public sealed class ClusterOptions
{
    /// <summary>The configuration section name.</summary>
    public const string SectionName = "Dispatcher:Cluster";

    /// <summary>For a Frontend: <see cref="ClusterMode.Embedded"/> (default) or <see cref="ClusterMode.Client"/>.</summary>
    public ClusterMode Mode { get; set; } = ClusterMode.Embedded;

    /// <summary>The Orleans cluster id: silos and clients with the same id form one cluster. Default <c>dispatcher</c>.</summary>
    public string ClusterId { get; set; } = "dispatcher";

    /// <summary>The Orleans service id (stable across deployments). Default <c>dispatcher</c>.</summary>
    public string ServiceId { get; set; } = "dispatcher";

    /// <summary>Silo-to-silo port. Default 11111.</summary>
    public int SiloPort { get; set; } = 11111;

    /// <summary>The gateway port clients (Frontends) connect to. Default 30000.</summary>
    public int GatewayPort { get; set; } = 30000;

    /// <summary>
    /// The IP address other silos and clients reach this silo at; empty: the host's own address (in a pod, the pod IP
    /// given by Kubernetes hosting).
    /// </summary>
    public string? AdvertisedAddress { get; set; }

    /// <summary>
    /// How long a Frontend keeps trying when no silo can take a request (a silo died and the model's grain is moving)
    /// before it answers 503 <c>dispatcher_unavailable</c>. Default 15 s.
    /// </summary>
    public TimeSpan FailoverTimeout { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>How often a Frontend renews its leases and waiting requests at each model grain. Default 1 s.</summary>
    public TimeSpan RenewInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Membership probe timeout. Default 1 s (Orleans: 5 s).</summary>
    public TimeSpan ProbeTimeout { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Missed probes before a silo is suspected. Default 2 (Orleans: 3).</summary>
    public int MissedProbesLimit { get; set; } = 2;

    /// <summary>Suspicions needed to declare a silo dead. Default 1 (Orleans: 2): see the class remarks.</summary>
    public int VotesForDeathDeclaration { get; set; } = 1;

    /// <summary>How often silos re-read the membership table. Default 2 s (Orleans: 60 s).</summary>
    public TimeSpan TableRefreshTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>How often a Frontend re-reads the gateway list. Default 2 s (Orleans: 1 min).</summary>
    public TimeSpan GatewayListRefreshPeriod { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Mutual TLS on the cluster's connections (off unless a certificate is given).</summary>
    public ClusterTlsOptions Tls { get; set; } = new();
}

/// <summary>
/// <c>Dispatcher:Cluster:Tls</c>: mutual TLS on every Orleans connection, silo to silo and Frontend to gateway. Each side
/// shows its certificate and accepts only one issued by <see cref="CaPath"/>'s authority; names are not checked (pods come
/// and go with new addresses: the cluster's own CA is what admits a member). The files are PEM, as in a Kubernetes TLS
/// Secret (<c>tls.crt</c>, <c>tls.key</c>, <c>ca.crt</c>); one certificate may serve every process. It must allow server
/// and client authentication (both, or no extended key usage).
/// </summary>
public sealed class ClusterTlsOptions
{
    /// <summary>This process's certificate (PEM). Setting it turns TLS on.</summary>
    public string? CertificatePath { get; set; }

    /// <summary>Its private key (PEM); empty when the certificate file holds it too.</summary>
    public string? KeyPath { get; set; }

    /// <summary>The certificate authority (PEM, one or more) every peer's certificate must chain to. Required with TLS.</summary>
    public string? CaPath { get; set; }

    /// <summary>True when a certificate is configured.</summary>
    public bool Enabled => !string.IsNullOrEmpty(CertificatePath);
}
