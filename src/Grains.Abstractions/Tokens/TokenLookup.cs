namespace Dispatcher.Grains.Abstractions.Tokens;

/// <summary>The result of looking a token up.</summary>
/// <param name="Status">Found, unknown, or the store could not be asked.</param>
/// <param name="Policy">Set when <see cref="TokenLookupStatus.Found"/>.</param>
[GenerateSerializer, Immutable, Alias("dispatcher.TokenLookup")]
public sealed record TokenLookup(TokenLookupStatus Status, TokenPolicy? Policy)
{
    /// <summary>The token is not known (answered with 401).</summary>
    public static TokenLookup Unknown { get; } = new(TokenLookupStatus.Unknown, null);

    /// <summary>The token store could not be reached and the token is not cached (answered with 503).</summary>
    public static TokenLookup StoreUnavailable { get; } = new(TokenLookupStatus.StoreUnavailable, null);

    /// <summary>A known token.</summary>
    public static TokenLookup Found(TokenPolicy policy) => new(TokenLookupStatus.Found, policy);
}
