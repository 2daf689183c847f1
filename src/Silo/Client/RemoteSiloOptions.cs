namespace Dispatcher.Silo.Client;

/// <summary>
/// The <c>Dispatcher:Silo</c> section of a Frontend. With <see cref="Addresses"/> set, the Frontend calls remote
/// silos instead of co-hosting one (the embedded default).
/// </summary>
public sealed class RemoteSiloOptions
{
    /// <summary>The configuration section name.</summary>
    public const string SectionName = "Dispatcher:Silo";

    /// <summary>
    /// Silo internal endpoints to ask for the cluster view, e.g. <c>http://dispatcher-silo:8081</c> (any silo
    /// answers; the Frontend then calls each model's owner directly).
    /// </summary>
    public List<string> Addresses { get; set; } = [];

    /// <summary>
    /// How long a request may go without any silo serving its model (during a failover) before it is answered
    /// 503. Default 15 s.
    /// </summary>
    public TimeSpan FailoverTimeout { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>The silos' <c>Dispatcher:Cluster:InternalKey</c>, sent with every call; none when they have none.</summary>
    public string? InternalKey { get; set; }

    /// <summary>Connecting to a silo gives up after this long. Default 2 s.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// How long a Frontend reuses a token's policy (found tokens only) before asking a silo again, which saves a
    /// round trip per request. A revoked or changed token takes effect on the Frontend within this time; the silo
    /// that queues the request checks the token again in any case. Zero asks every time. Default 1 s.
    /// </summary>
    public TimeSpan TokenCacheTtl { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>A plain call to a silo (token lookup, cluster view, release) gives up after this long. Default 5 s.</summary>
    public TimeSpan CallTimeout { get; set; } = TimeSpan.FromSeconds(5);
}
