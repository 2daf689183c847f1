namespace Dispatcher.Grains.Abstractions.Configuration;

/// <summary>The <c>Dispatcher:TokenStore</c> section: how token lookups are cached.</summary>
public sealed class TokenStoreOptions
{
    /// <summary>
    /// How long a known token's policy is used before it is looked up again. Changes and revocations arrive at
    /// once by notification; this bounds staleness if a notification is lost. Default 60 s.
    /// </summary>
    public TimeSpan CacheTtl { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>How long an unknown token stays unknown before it is looked up again. Default 5 s.</summary>
    public TimeSpan UnknownCacheTtl { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>After a failed lookup, the store is not asked again for this long (answers are 503 meanwhile). Default 1 s.</summary>
    public TimeSpan RetryAfterFailure { get; set; } = TimeSpan.FromSeconds(1);
}
