using Dispatcher.Frontend.Auth;
using Dispatcher.Grains.Abstractions.Tokens;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace Dispatcher.Frontend.Tests.Auth;

/// <summary>Policies reused for the cache duration, on a fake clock.</summary>
public sealed class TokenPolicyCacheTests
{
    private static readonly AuthenticatedToken Team = new(TokenHash.Compute("team-secret"), new TokenPolicy("team", 3, 10));

    private static TokenPolicyCache Cache(FakeTimeProvider time, TimeSpan duration) =>
        new(Options.Create(new AuthOptions { PolicyCacheDuration = duration }), time);

    [Fact]
    public void Find_WithinTheDuration_TheTokenAsPutThenNothing()
    {
        var time = new FakeTimeProvider();
        var cache = Cache(time, TimeSpan.FromSeconds(1));
        Assert.Null(cache.Find(Team.TokenId));

        cache.Put(Team);
        time.Advance(TimeSpan.FromMilliseconds(999));
        Assert.Same(Team, cache.Find(Team.TokenId));

        time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Null(cache.Find(Team.TokenId)); // asked again: a revoked or changed token is seen within the duration
    }

    [Fact]
    public async Task LookUp_ManyRequestsAtOnce_OneLookupSharedAndTheNextMissAsksAgain()
    {
        var cache = Cache(new FakeTimeProvider(), TimeSpan.FromSeconds(1));
        var calls = 0;
        var answer = new TaskCompletionSource<TokenLookup?>();
        Task<TokenLookup?> LookUp(string tokenId)
        {
            Interlocked.Increment(ref calls);
            return answer.Task;
        }

        using var leaving = new CancellationTokenSource();
        var left = cache.LookUpAsync(Team.TokenId, LookUp, leaving.Token); // the request that started the lookup leaves
        var waiting = Enumerable.Range(0, 20).Select(_ => cache.LookUpAsync(Team.TokenId, LookUp, CancellationToken.None)).ToList();
        await leaving.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => left);
        answer.SetResult(TokenLookup.Found(Team.Policy));

        Assert.All(await Task.WhenAll(waiting), lookup => Assert.Equal(TokenLookup.Found(Team.Policy), lookup));
        Assert.Equal(1, calls);

        answer = new TaskCompletionSource<TokenLookup?>();
        answer.SetResult(TokenLookup.Unknown);
        Assert.Equal(TokenLookup.Unknown, await cache.LookUpAsync(Team.TokenId, LookUp, CancellationToken.None));
        Assert.Equal(2, calls);
    }

    [Fact]
    public void Forget_RevokedWhileCached_NotFoundAnyMore()
    {
        var cache = Cache(new FakeTimeProvider(), TimeSpan.FromSeconds(1));
        cache.Put(Team);

        cache.Forget(Team.TokenId);

        Assert.Null(cache.Find(Team.TokenId));
    }

    [Fact]
    public void Put_DurationZero_NothingKept()
    {
        var cache = Cache(new FakeTimeProvider(), TimeSpan.Zero);

        cache.Put(Team);

        Assert.Null(cache.Find(Team.TokenId));
    }

    [Fact]
    public void Put_Full_ExpiredEntriesMakeRoomAndLiveOnesAreKept()
    {
        var time = new FakeTimeProvider();
        var cache = Cache(time, TimeSpan.FromSeconds(1));
        for (var i = 0; i < TokenPolicyCache.PruneAt; i++)
        {
            cache.Put(Team with { TokenId = $"old-{i}" });
        }

        cache.Put(Team); // full of live entries: not kept
        Assert.Null(cache.Find(Team.TokenId));
        Assert.NotNull(cache.Find("old-0"));

        time.Advance(TimeSpan.FromSeconds(1));
        cache.Put(Team); // the expired ones are dropped first

        Assert.Same(Team, cache.Find(Team.TokenId));
        Assert.Null(cache.Find("old-0"));
    }
}
