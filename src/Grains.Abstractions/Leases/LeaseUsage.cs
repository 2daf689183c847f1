namespace Dispatcher.Grains.Abstractions.Leases;

/// <summary>Tokens a request consumed, as reported in the response's <c>usage</c> object.</summary>
public sealed record LeaseUsage(int PromptTokens, int CompletionTokens);
