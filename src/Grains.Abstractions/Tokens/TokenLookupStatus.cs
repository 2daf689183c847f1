namespace Dispatcher.Grains.Abstractions.Tokens;

/// <summary>Whether a token lookup found a policy.</summary>
[GenerateSerializer, Alias("dispatcher.TokenLookupStatus")]
public enum TokenLookupStatus
{
    /// <summary>The token is known and not revoked.</summary>
    Found,

    /// <summary>The token is not known, or revoked.</summary>
    Unknown,

    /// <summary>The token store could not be reached and nothing was cached.</summary>
    StoreUnavailable,
}
