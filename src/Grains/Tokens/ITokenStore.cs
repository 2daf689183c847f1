using Dispatcher.Grains.Abstractions.Tokens;

namespace Dispatcher.Grains.Tokens;

/// <summary>Where token policies come from. Implementations are thread-safe.</summary>
public interface ITokenStore
{
    /// <summary>
    /// Finds the policy of the token whose id (<see cref="TokenHash.Compute"/>) is <paramref name="tokenId"/>.
    /// Answers <see cref="TokenLookup.StoreUnavailable"/> rather than throwing when the store cannot be reached.
    /// </summary>
    Task<TokenLookup> FindAsync(string tokenId, CancellationToken cancellationToken);
}
