namespace Dispatcher.Grains.Abstractions.Configuration;

/// <summary>
/// The <c>Dispatcher</c> configuration section: the models served, the embedded token store and the
/// scheduling defaults. Bound once at start and validated then; not thread-safe to mutate afterwards.
/// </summary>
public sealed class DispatcherOptions
{
    /// <summary>The configuration section name.</summary>
    public const string SectionName = "Dispatcher";

    /// <summary>The models clients may ask for. Empty: the Frontend starts the built-in demo.</summary>
    public List<ModelOptions> Models { get; set; } = [];

    /// <summary>The embedded token store, used when no database is configured.</summary>
    public List<TokenOptions> Tokens { get; set; } = [];

    /// <summary>How long a request may wait for a lease before it is answered 503. Default 60 s.</summary>
    public TimeSpan QueueTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// A hard cap on the leases one replica takes at once, on top of the metrics-based admission, unless its
    /// model says otherwise. None by default; required when <c>Capacity:UseMetrics</c> is false.
    /// </summary>
    public int? MaxConcurrentLeasesPerBackend { get; set; }

    /// <summary>
    /// Waiters and leases of a Frontend that has not renewed them for this long are dropped (it crashed or lost the
    /// cluster); Frontends renew about every second. Default 10 s.
    /// </summary>
    public TimeSpan HolderExpiry { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>A last-resort limit on one lease, in case its holder never releases it. Default 1 hour.</summary>
    public TimeSpan MaxLeaseLifetime { get; set; } = TimeSpan.FromHours(1);

    /// <summary>The <c>Retry-After</c> hint sent with 429 and 503 answers. Default 2 s.</summary>
    public TimeSpan RetryAfter { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>How token lookups are cached.</summary>
    public TokenStoreOptions TokenStore { get; set; } = new();

    /// <summary>When replicas have room, and how failing ones are ejected.</summary>
    public CapacityOptions Capacity { get; set; } = new();

    /// <summary>The order in which waiting requests are served.</summary>
    public SchedulingOptions Scheduling { get; set; } = new();

    /// <summary>The model named <paramref name="name"/> (ordinal match), or null.</summary>
    public ModelOptions? FindModel(string name) =>
        Models.Find(m => string.Equals(m.Name, name, StringComparison.Ordinal));
}
