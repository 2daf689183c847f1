using System.Text.Json;
using Dispatcher.Grains.Abstractions.Leases;
using Dispatcher.Grains.Abstractions.Tokens;
using Dispatcher.Silo.Cluster;
using Dispatcher.Silo.Remote;

namespace Dispatcher.Silo.Client;

/// <summary>
/// A token grain seen from a Frontend. Found policies are reused for <see cref="RemoteSiloOptions.TokenCacheTtl"/>;
/// otherwise they are asked of one live silo chosen by rendezvous hashing on the token
/// (so its cache there stays warm), falling back to the others; when none answers, the token store counts as
/// unreachable (503, never 401). Counters are summed over the live silos, each of which counts the requests of the
/// models it hosts.
/// </summary>
internal sealed class RemoteTokenGrain(string tokenId, RemoteSiloClient client) : ITokenGrain
{
    public async Task<TokenLookup> GetPolicyAsync(CancellationToken cancellationToken)
    {
        if (client.CachedPolicy(tokenId) is { } cached)
        {
            return cached;
        }

        if (client.Directory.Silos.Count == 0 || client.Directory.Members.Count == 0)
        {
            await client.Directory.RefreshAsync(1, cancellationToken).ConfigureAwait(false);
        }

        foreach (var silo in Candidates())
        {
            try
            {
                if (await client.Http.GetAsync<TokenLookup>(silo, SiloProtocol.TokenPath(tokenId), cancellationToken).ConfigureAwait(false) is { } lookup)
                {
                    client.CachePolicy(tokenId, lookup);
                    return lookup;
                }
            }
            catch (Exception exception) when (!cancellationToken.IsCancellationRequested && exception is HttpRequestException or IOException or OperationCanceledException or JsonException)
            {
                // Try the next silo.
            }
        }

        return TokenLookup.StoreUnavailable;
    }

    public async Task<TokenCounters> GetCountersAsync(CancellationToken cancellationToken)
    {
        var total = new TokenCounters(0, 0, 0, 0);
        foreach (var silo in client.Directory.Silos)
        {
            if (await client.Http.GetAsync<TokenCounters>(silo, SiloProtocol.TokenCountersPath(tokenId), cancellationToken).ConfigureAwait(false) is { } counters)
            {
                total = new TokenCounters(total.Waiting + counters.Waiting, total.InFlight + counters.InFlight, total.Completed + counters.Completed, total.CompletionTokens + counters.CompletionTokens);
            }
        }

        return total;
    }

    public Task<WaitAdmission> TryEnterWaitingAsync(CancellationToken cancellationToken) => throw InsideSiloOnly();

    public Task LeaveWaitingAsync(bool granted, CancellationToken cancellationToken) => throw InsideSiloOnly();

    public Task AdoptInFlightAsync(CancellationToken cancellationToken) => throw InsideSiloOnly();

    public Task ReleaseAsync(LeaseUsage? usage, CancellationToken cancellationToken) => throw InsideSiloOnly();

    public Task InvalidateAsync(CancellationToken cancellationToken) => throw InsideSiloOnly();

    private static NotSupportedException InsideSiloOnly() => new("Only model grains inside a silo count a token's requests.");

    /// <summary>The live silo rendezvous hashing gives this token first, then the others.</summary>
    private List<string> Candidates()
    {
        var members = client.Directory.Members;
        var preferred = ClusterKeys.Preferred(tokenId, members.Select(m => m.SiloId));
        var first = members.FirstOrDefault(m => m.SiloId == preferred)?.Address;
        var candidates = first is null ? [] : new List<string> { first };
        candidates.AddRange(client.Directory.Silos.Where(s => s != first));
        return candidates;
    }
}
