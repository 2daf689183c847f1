namespace Dispatcher.Grains.Abstractions.Leases;

/// <summary>Tokens a request consumed, as reported in the response's <c>usage</c> object.</summary>
[GenerateSerializer, Immutable, Alias("dispatcher.LeaseUsage")]
public sealed record LeaseUsage(int PromptTokens, int CompletionTokens);
