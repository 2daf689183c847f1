using Dispatcher.Grains.Abstractions.Leases;
using Dispatcher.Grains.Abstractions.Tokens;
using Dispatcher.Grains.Tokens;
using Dispatcher.Testing;

namespace Dispatcher.Grains.Tests.Tokens;

/// <summary>The token grain's cache in front of a store that the test scripts, on a fake clock.</summary>
public sealed class TokenGrainTests
{
    private static readonly string Known = TokenHash.Compute("known");
    private static readonly string Unseen = TokenHash.Compute("unseen");
    private static readonly TokenPolicy Policy = new("team", 3, 4, null);

    private sealed class ScriptedStore : ITokenStore
    {
        public int Calls;

        public bool Down { get; set; }

        public Dictionary<string, TokenPolicy> Tokens { get; } = new() { [Known] = Policy };

        /// <summary>When set, lookups wait for it (the store is slow).</summary>
        public TaskCompletionSource? Gate { get; set; }

        public async Task<TokenLookup> FindAsync(string tokenId, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref Calls);
            if (Gate is { } gate)
            {
                await gate.Task;
            }

            return Down ? TokenLookup.StoreUnavailable
                : Tokens.TryGetValue(tokenId, out var policy) ? TokenLookup.Found(policy) : TokenLookup.Unknown;
        }
    }

    private static async Task<TokenLookup> LookupAsync(GrainTestHost host, string tokenId) =>
        await host.Grains.GetGrain<ITokenGrain>(tokenId).GetPolicyAsync(CancellationToken.None);

    [Fact]
    public async Task GetPolicy_KnownToken_CachedUntilTheTtl()
    {
        var store = new ScriptedStore();
        await using var host = await GrainTestHost.StartAsync(tokenStore: store, configure: o => o.TokenStore.CacheTtl = TimeSpan.FromSeconds(60));

        Assert.Equal(TokenLookup.Found(Policy), await LookupAsync(host, Known));
        host.Time.Advance(TimeSpan.FromSeconds(59));
        Assert.Equal(TokenLookup.Found(Policy), await LookupAsync(host, Known));
        Assert.Equal(1, store.Calls);

        store.Tokens[Known] = Policy with { Priority = 9 };
        host.Time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(9, (await LookupAsync(host, Known)).Policy!.Priority);
        Assert.Equal(2, store.Calls);
    }

    [Fact]
    public async Task GetPolicy_UnknownToken_AskedAgainAfterTheShortTtl()
    {
        var store = new ScriptedStore();
        await using var host = await GrainTestHost.StartAsync(tokenStore: store, configure: o => o.TokenStore.UnknownCacheTtl = TimeSpan.FromSeconds(5));

        Assert.Equal(TokenLookup.Unknown, await LookupAsync(host, Unseen));
        Assert.Equal(TokenLookup.Unknown, await LookupAsync(host, Unseen));
        Assert.Equal(1, store.Calls);

        store.Tokens[Unseen] = Policy;
        host.Time.Advance(TimeSpan.FromSeconds(5));
        Assert.Equal(TokenLookup.Found(Policy), await LookupAsync(host, Unseen));
    }

    [Fact]
    public async Task GetPolicy_StoreDown_CachedTokenKeepsWorkingUnseenOneIsUnavailable()
    {
        var store = new ScriptedStore();
        await using var host = await GrainTestHost.StartAsync(tokenStore: store, configure: o => o.TokenStore.CacheTtl = TimeSpan.FromSeconds(60));
        await LookupAsync(host, Known);

        store.Down = true;
        host.Time.Advance(TimeSpan.FromMinutes(10));

        Assert.Equal(TokenLookup.Found(Policy), await LookupAsync(host, Known));
        Assert.Equal(TokenLookup.StoreUnavailable, await LookupAsync(host, Unseen));

        store.Down = false;
        store.Tokens[Unseen] = Policy;
        Assert.Equal(TokenLookup.Found(Policy), await LookupAsync(host, Unseen));
    }

    [Fact]
    public async Task Invalidate_TokenRevoked_NextLookupIsUnknownAtOnce()
    {
        var store = new ScriptedStore();
        await using var host = await GrainTestHost.StartAsync(tokenStore: store, configure: o => o.TokenStore.CacheTtl = TimeSpan.FromHours(1));
        await LookupAsync(host, Known);

        store.Tokens.Remove(Known);
        await host.Grains.GetGrain<ITokenGrain>(Known).InvalidateAsync(CancellationToken.None);

        Assert.Equal(TokenLookup.Unknown, await LookupAsync(host, Known));
    }

    [Fact]
    public async Task GetPolicy_ManyAtOnceWhileTheStoreIsSlow_OneLookupShared()
    {
        var store = new ScriptedStore { Gate = new TaskCompletionSource() };
        await using var host = await GrainTestHost.StartAsync(tokenStore: store);

        var lookups = Enumerable.Range(0, 20).Select(_ => LookupAsync(host, Known)).ToList();
        await Eventually.TrueAsync(() => Task.FromResult(store.Calls == 1), () => "the store was not asked");
        store.Gate.SetResult();

        Assert.All(await Task.WhenAll(lookups), lookup => Assert.Equal(TokenLookup.Found(Policy), lookup));
        Assert.Equal(1, store.Calls);
    }

    [Fact]
    public async Task Invalidate_WhileALookupIsOnItsWay_ThatLookupIsNotCached()
    {
        var store = new ScriptedStore { Gate = new TaskCompletionSource() };
        await using var host = await GrainTestHost.StartAsync(tokenStore: store, configure: o => o.TokenStore.CacheTtl = TimeSpan.FromHours(1));
        var before = LookupAsync(host, Known);
        await Eventually.TrueAsync(() => Task.FromResult(store.Calls == 1), () => "the store was not asked");

        store.Tokens.Remove(Known); // revoked while the lookup read it
        await host.Grains.GetGrain<ITokenGrain>(Known).InvalidateAsync(CancellationToken.None);
        var gate = store.Gate;
        store.Gate = null;
        gate.SetResult();

        await before;
        Assert.Equal(TokenLookup.Unknown, await LookupAsync(host, Known));
        Assert.Equal(2, store.Calls);
    }

    [Fact]
    public async Task Acquire_TokenRevokedAfterAuthentication_RefusedAsRejectedNotAsOverThreshold()
    {
        // A remote Frontend authenticates from its own short cache, so a revoked token can still reach the queue.
        var store = new ScriptedStore();
        await using var host = await GrainTestHost.StartAsync(tokenStore: store);
        var request = new LeaseRequest("req-revoked", Known, Policy.Priority, null);
        var before = await host.ModelGrain.AcquireAsync(request, CancellationToken.None);
        Assert.Equal(LeaseOutcome.Granted, before.Outcome);
        await host.ReleaseAsync(before);

        store.Tokens.Remove(Known);
        await host.Grains.GetGrain<ITokenGrain>(Known).InvalidateAsync(CancellationToken.None);
        var after = await host.ModelGrain.AcquireAsync(request, CancellationToken.None);

        Assert.Equal(LeaseOutcome.TokenRejected, after.Outcome);
        Assert.Null(after.LeaseId);
        await host.AssertNothingHeldAsync();
    }

    [Fact]
    public async Task Acquire_GrantedAtOnceAndAbandonedBeforeItsTokenAnswered_CancelledAndNothingHeld()
    {
        // Nobody waits and the replica is free: the lease is granted first, then the token's grain (here slow, its
        // store not answering yet) admits the request and counts the lease. The client leaves in between.
        var store = new ScriptedStore { Gate = new TaskCompletionSource() };
        await using var host = await GrainTestHost.StartAsync(tokenStore: store);
        var request = new LeaseRequest("req-left", Known, Policy.Priority, null);
        var acquiring = host.ModelGrain.AcquireAsync(request, CancellationToken.None);
        await Eventually.TrueAsync(async () => store.Calls == 1 && (await host.SnapshotAsync()).InFlight == 1, () => "the lease was not granted before the token answered");

        var abandoning = host.ModelGrain.AbandonAsync(request.RequestId, CancellationToken.None);
        await Eventually.TrueAsync(async () => (await host.SnapshotAsync()).InFlight == 0, () => "the abandon did not give the lease back");
        store.Gate.SetResult();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => acquiring);
        await abandoning;
        await host.AssertNothingHeldAsync();
        Assert.Equal(0, (await host.Grains.GetGrain<ITokenGrain>(Known).GetCountersAsync(CancellationToken.None)).InFlight);
    }

    [Fact]
    public async Task Acquire_UnseenTokenWhileStoreDown_RefusedAsStoreUnavailable()
    {
        var store = new ScriptedStore { Down = true };
        await using var host = await GrainTestHost.StartAsync(tokenStore: store);

        var grant = await host.ModelGrain.AcquireAsync(new LeaseRequest("req-unseen", Unseen, 1, null), CancellationToken.None);

        Assert.Equal(LeaseOutcome.TokenStoreUnavailable, grant.Outcome);
        await host.AssertNothingHeldAsync();
    }
}
