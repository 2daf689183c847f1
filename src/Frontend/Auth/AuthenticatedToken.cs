using Dispatcher.Grains.Abstractions.Tokens;

namespace Dispatcher.Frontend.Auth;

/// <summary>The caller's token, once authenticated: its id (a hash) and policy, never its secret.</summary>
internal sealed record AuthenticatedToken(string TokenId, TokenPolicy Policy);
