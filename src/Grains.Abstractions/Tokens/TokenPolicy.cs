namespace Dispatcher.Grains.Abstractions.Tokens;

/// <summary>What a token may do. Never holds the secret.</summary>
/// <param name="Name">A display name (team, application); safe to log and show.</param>
/// <param name="Priority">The token's weight, at least 1. Under contention a priority-10 token gets about ten
/// times the service of a priority-1 token.</param>
/// <param name="Threshold">The most requests the token may have waiting at once, at least 1.</param>
/// <param name="MaxInFlight">The most requests it may have running at once, across models; null for no limit.
/// Requests beyond it wait (they are not refused).</param>
[GenerateSerializer, Immutable, Alias("dispatcher.TokenPolicy")]
public sealed record TokenPolicy(string Name, int Priority, int Threshold, int? MaxInFlight = null);
