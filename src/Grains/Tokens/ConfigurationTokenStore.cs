using Dispatcher.Grains.Abstractions.Configuration;
using Dispatcher.Grains.Abstractions.Tokens;
using Microsoft.Extensions.Options;

namespace Dispatcher.Grains.Tokens;

/// <summary>
/// The embedded token store: <c>Dispatcher:Tokens</c>. Secrets are hashed once at start; only their ids are
/// kept. The configuration is validated at start, so every entry here is well formed.
/// </summary>
internal sealed class ConfigurationTokenStore : ITokenStore
{
    private readonly Dictionary<string, TokenPolicy> _policies = new(StringComparer.Ordinal);

    public ConfigurationTokenStore(IOptions<DispatcherOptions> options)
    {
        foreach (var token in options.Value.Tokens)
        {
            var id = string.IsNullOrEmpty(token.Token)
                ? token.TokenSha256!.ToLowerInvariant()
                : TokenHash.Compute(token.Token);
            var name = string.IsNullOrWhiteSpace(token.Name) ? TokenHash.DisplayName(id) : token.Name;
            _policies[id] = new TokenPolicy(name, token.Priority, token.Threshold, token.MaxInFlight);
        }
    }

    public Task<TokenLookup> FindAsync(string tokenId, CancellationToken cancellationToken) =>
        Task.FromResult(_policies.TryGetValue(tokenId, out var policy) ? TokenLookup.Found(policy) : TokenLookup.Unknown);
}
