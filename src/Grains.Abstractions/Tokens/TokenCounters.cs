namespace Dispatcher.Grains.Abstractions.Tokens;

/// <summary>A token's live counters.</summary>
/// <param name="Waiting">Requests in some model's wait list.</param>
/// <param name="InFlight">Requests holding a lease.</param>
/// <param name="Completed">Leases released since the grain was activated.</param>
/// <param name="CompletionTokens">Generated tokens reported at release since the grain was activated.</param>
[GenerateSerializer, Immutable, Alias("dispatcher.TokenCounters")]
public sealed record TokenCounters(int Waiting, int InFlight, long Completed, long CompletionTokens);
