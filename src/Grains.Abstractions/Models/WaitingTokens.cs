namespace Dispatcher.Grains.Abstractions.Models;

/// <summary>One token's requests in a model's wait list.</summary>
/// <param name="TokenId">The token's id (a hash, never the secret).</param>
/// <param name="Priority">The priority its front request is served with.</param>
/// <param name="Count">How many of its requests wait.</param>
/// <param name="HeldBack">True while the token is at its in-flight limit.</param>
[GenerateSerializer, Immutable, Alias("dispatcher.WaitingTokens")]
public sealed record WaitingTokens(string TokenId, int Priority, int Count, bool HeldBack);
