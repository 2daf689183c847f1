namespace Dispatcher.Grains.Abstractions.Models;

/// <summary>A lease in flight, for inspection.</summary>
/// <param name="TokenId">The token holding it (a hash).</param>
/// <param name="Priority">The priority it was granted with.</param>
/// <param name="Backend">The replica it runs on.</param>
/// <param name="GrantedAt">When it was granted.</param>
[GenerateSerializer, Immutable, Alias("dispatcher.LeaseView")]
public sealed record LeaseView(string TokenId, int Priority, Uri Backend, DateTimeOffset GrantedAt);
