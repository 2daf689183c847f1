namespace Dispatcher.Grains.Abstractions.Configuration;

/// <summary>One token of the embedded store: <c>Dispatcher:Tokens:N</c>. Give either the secret or its hash.</summary>
public sealed class TokenOptions
{
    /// <summary>
    /// A display name, safe to log. Optional (the seed documents configure tokens as token, priority and threshold
    /// only): without one it is <see cref="Tokens.TokenHash.DisplayName"/> of the token's hash.
    /// </summary>
    public string Name { get; set; } = "";

    /// <summary>The secret itself. It is hashed at start and not kept.</summary>
    public string? Token { get; set; }

    /// <summary>The lowercase hex SHA-256 of the secret, instead of <see cref="Token"/>.</summary>
    public string? TokenSha256 { get; set; }

    /// <summary>The token's weight, from 1 to 1000. Default 1.</summary>
    public int Priority { get; set; } = 1;

    /// <summary>The most requests it may have waiting at once, at least 1. Default 10.</summary>
    public int Threshold { get; set; } = 10;

    /// <summary>The most requests it may have running at once across models (more wait); none by default.</summary>
    public int? MaxInFlight { get; set; }
}
