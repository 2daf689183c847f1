namespace Dispatcher.Grains.Abstractions.Configuration;

/// <summary>
/// The <c>Dispatcher:Capacity</c> section: when a replica has room for one more request, read from its
/// <c>/metrics</c>, and how failing replicas are ejected and probed.
/// </summary>
public sealed class CapacityOptions
{
    /// <summary>Admit by the replicas' live metrics (default). False: only the hard cap (<c>MaxConcurrentLeasesPerBackend</c>).</summary>
    public bool UseMetrics { get; set; } = true;

    /// <summary>How often each replica's <c>/metrics</c> is read. Default 1 s.</summary>
    public TimeSpan ScrapeInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>The longest wait for a scrape or a health probe. Default 2 s.</summary>
    public TimeSpan ScrapeTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>The per-user token rate no running request may be pushed under, tokens/s. Default 7 (as Aristote).</summary>
    public double MinTokensPerSecond { get; set; } = 7;

    /// <summary>Admit only while vLLM's own waiting count is at most this. Default 0: the waiting happens in our queue.</summary>
    public int MaxWaiting { get; set; }

    /// <summary>Admit only while KV-cache usage is below this (0 to 1). Default 0.9.</summary>
    public double MaxKvCacheUsage { get; set; } = 0.9;

    /// <summary>Leases a replica takes while its rate is not known yet (cold start, idle since start). Default 4.</summary>
    public int ColdStartLeases { get; set; } = 4;

    /// <summary>How much scrape history one estimate spans. Default 10 s.</summary>
    public TimeSpan EstimationWindow { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Consecutive failed scrapes after which a replica is ejected. Default 2.</summary>
    public int FailuresToEject { get; set; } = 2;

    /// <summary>The first health probe of an ejected replica comes after this; each failure doubles it. Default 1 s.</summary>
    public TimeSpan ProbeBackoff { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>The longest time between health probes of an ejected replica. Default 30 s.</summary>
    public TimeSpan MaxProbeBackoff { get; set; } = TimeSpan.FromSeconds(30);
}
