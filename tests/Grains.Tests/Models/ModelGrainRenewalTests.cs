using Dispatcher.Grains.Abstractions.Leases;
using Dispatcher.Grains.Abstractions.Tokens;
using Dispatcher.Grains.Tokens;
using Dispatcher.Testing;

namespace Dispatcher.Grains.Tests.Models;

/// <summary>Leases and waiters held by Frontends (holders): renewal, adoption, holder loss, a stopping silo.</summary>
public sealed class ModelGrainRenewalTests
{
    private const string Holder = "frontend-1";

    [Fact]
    public async Task Sweep_HolderStopsRenewing_DropsItsWaitersAndLeasesAsHolderLost()
    {
        await using var host = await GrainTestHost.StartAsync();
        var lease = await host.ModelGrain.AcquireAsync(host.Request("mid", holder: Holder), CancellationToken.None);
        var waiting = await host.EnqueueAsync("low", holder: Holder);
        var otherRequest = host.Request("high", holder: "frontend-2");
        var other = await host.EnqueueAsync(otherRequest);

        // frontend-2 keeps renewing (its waiter listed); frontend-1 has crashed. The clock moves a second at a time until
        // the grain's sweep dropped frontend-1's wait: a sweep runs in the grain's own turn, and on a busy machine the
        // clock can pass its next tick before it ran, so more seconds than the holder timeout may be needed.
        var deadline = DateTime.UtcNow + Eventually.Limit;
        for (var second = 0; !waiting.IsCompleted; second++)
        {
            Assert.True(DateTime.UtcNow < deadline, $"frontend-1's wait was not dropped after {second} s without its renewals");
            await host.ModelGrain.RenewAsync(new LeaseRenewal("frontend-2", [], [otherRequest.RequestId]), CancellationToken.None);
            host.Time.Advance(TimeSpan.FromSeconds(1));
            if (second >= 10)
            {
                await Task.Delay(10);
            }
        }

        var refused = await waiting;
        Assert.NotEqual(LeaseOutcome.Granted, refused.Outcome);

        // Its lease went back: the other holder's waiter gets the replica.
        var granted = await other.WaitAsync(Eventually.Limit);
        Assert.Equal(LeaseOutcome.Granted, granted.Outcome);
        await host.ReleaseAsync(lease); // a late release of a dropped lease changes nothing
        await host.ReleaseAsync(granted);
        await host.AssertNothingHeldAsync();
    }

    [Fact]
    public async Task RenewAsync_LeasesAndWaitsItDoesNotKnow_AdoptsTheLeasesAndNamesTheWaits()
    {
        await using var host = await GrainTestHost.StartAsync(capacity: 2);
        var adopted = new LeaseAdoption("lease-from-before", "req-a", GrainTestHost.TokenId("mid"), 5, null, new Uri("http://10.0.0.1:8000"), TimeSpan.FromSeconds(3));
        var foreign = adopted with { LeaseId = "lease-elsewhere", Backend = new Uri("http://10.9.9.9:8000") };

        var result = await host.ModelGrain.RenewAsync(new LeaseRenewal(Holder, [adopted, foreign], ["req-lost"]), CancellationToken.None);
        host.Time.Advance(TimeSpan.FromSeconds(2));
        var again = await host.ModelGrain.RenewAsync(new LeaseRenewal(Holder, [adopted], []), CancellationToken.None);

        Assert.Equal(["req-lost"], result.UnknownWaiting);
        Assert.InRange(again.ActivationAge - result.ActivationAge, TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(3)); // the Frontend tells stuck calls by it
        Assert.Equal(["lease-elsewhere"], result.RefusedLeases);
        Assert.Empty(again.RefusedLeases);
        var snapshot = await host.SnapshotAsync();
        Assert.Equal(1, snapshot.InFlight); // counted once, renewed twice
        Assert.Equal(1, snapshot.Backends[0].LeasesInFlight);
        await host.AssertCountersAsync("mid", inFlight: 1);

        // The adopted lease takes capacity: one more fits, the next waits.
        var first = await host.ModelGrain.AcquireAsync(host.Request("low", holder: Holder), CancellationToken.None);
        var second = await host.EnqueueAsync("low", holder: Holder);
        Assert.False(second.IsCompleted);

        await GrainTestHost.ReleaseAsync(host.ModelGrain, new LeaseRelease("lease-from-before", LeaseEndReason.Completed, 200, null));
        await host.ReleaseAsync(first);
        await host.ReleaseAsync(await second.WaitAsync(Eventually.Limit));
        await host.AssertNothingHeldAsync();
    }

    [Fact]
    public async Task RenewAsync_WaitingAndGrantedRequests_AreKnown()
    {
        await using var host = await GrainTestHost.StartAsync();
        var grantedRequest = host.Request("mid", holder: Holder);
        var grant = await host.ModelGrain.AcquireAsync(grantedRequest, CancellationToken.None);
        var waitingRequest = host.Request("low", holder: Holder);
        var waiting = await host.EnqueueAsync(waitingRequest);

        var result = await host.ModelGrain.RenewAsync(
            new LeaseRenewal(Holder, [new LeaseAdoption(grant.LeaseId!, grantedRequest.RequestId, grantedRequest.TokenId, 5, null, grant.Backend!, TimeSpan.Zero)],
                [grantedRequest.RequestId, waitingRequest.RequestId]),
            CancellationToken.None);

        Assert.Empty(result.UnknownWaiting);
        Assert.Empty(result.RefusedLeases);
        await host.ReleaseAsync(grant);
        await host.ReleaseAsync(await waiting.WaitAsync(Eventually.Limit));
        await host.AssertNothingHeldAsync();
    }

    [Fact]
    public async Task RenewAsync_SentBeforeItsLeaseWasReleased_DoesNotAdoptTheLeaseAgain()
    {
        await using var host = await GrainTestHost.StartAsync();
        var request = host.Request("mid", holder: Holder);
        var grant = await host.ModelGrain.AcquireAsync(request, CancellationToken.None);
        var listed = new LeaseAdoption(grant.LeaseId!, request.RequestId, request.TokenId, 5, null, grant.Backend!, TimeSpan.Zero);

        await host.ReleaseAsync(grant); // the renewal below was built while the lease was held, and arrives after its release
        var result = await host.ModelGrain.RenewAsync(new LeaseRenewal(Holder, [listed], []), CancellationToken.None);

        Assert.Empty(result.RefusedLeases);
        await host.AssertNothingHeldAsync();
    }

    [Fact]
    public async Task RenewAsync_RequestWhoseTokenHasNotAnswered_IsKnown()
    {
        // A burst of one token's requests queues at its grain: those not yet admitted must not be sent back as unknown.
        var store = new GatedTokenStore();
        await using var host = await GrainTestHost.StartAsync(tokenStore: store);
        var request = host.Request("mid", holder: Holder);
        var pending = host.ModelGrain.AcquireAsync(request, CancellationToken.None);
        await store.Asked.Task.WaitAsync(Eventually.Limit);

        var whileEntering = await host.ModelGrain.RenewAsync(new LeaseRenewal(Holder, [], [request.RequestId, "req-lost"]), CancellationToken.None);

        Assert.Equal(["req-lost"], whileEntering.UnknownWaiting);
        store.Open.SetResult();
        var grant = await pending.WaitAsync(Eventually.Limit);
        Assert.Equal(LeaseOutcome.Granted, grant.Outcome);
        await host.ReleaseAsync(grant);
        var afterwards = await host.ModelGrain.RenewAsync(new LeaseRenewal(Holder, [], [request.RequestId]), CancellationToken.None);
        Assert.Equal([request.RequestId], afterwards.UnknownWaiting);
        await host.AssertNothingHeldAsync();
    }

    /// <summary>Knows every token as priority 5; holds each lookup until <see cref="Open"/> is set.</summary>
    private sealed class GatedTokenStore : ITokenStore
    {
        public TaskCompletionSource Asked { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource Open { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public async Task<TokenLookup> FindAsync(string tokenId, CancellationToken cancellationToken)
        {
            Asked.TrySetResult();
            await Open.Task.WaitAsync(cancellationToken);
            return TokenLookup.Found(new TokenPolicy("team", 5, 5));
        }
    }

    [Fact]
    public async Task RenewAsync_LeaseNoLongerListed_IsTakenBackAfterTheHolderExpiry()
    {
        await using var host = await GrainTestHost.StartAsync();
        var grant = await host.ModelGrain.AcquireAsync(host.Request("mid", holder: Holder), CancellationToken.None);

        // Listed nothing just after the grant: a grant in flight is not mistaken for a forgotten lease.
        await host.ModelGrain.RenewAsync(new LeaseRenewal(Holder, [], []), CancellationToken.None);
        Assert.Equal(1, (await host.SnapshotAsync()).InFlight);

        host.Time.Advance(TimeSpan.FromSeconds(5));
        await host.ModelGrain.RenewAsync(new LeaseRenewal(Holder, [], []), CancellationToken.None);
        host.Time.Advance(TimeSpan.FromSeconds(6));
        await host.ModelGrain.RenewAsync(new LeaseRenewal(Holder, [], []), CancellationToken.None);

        await host.AssertNothingHeldAsync();
        await host.ReleaseAsync(grant); // late, and harmless
    }

    [Fact]
    public async Task AcquireAsync_TwoSilos_TokenThresholdHoldsAcrossModelsAndSilos()
    {
        await using var host = await GrainTestHost.StartAsync(silos: 2);
        var holder = await host.ModelGrain.AcquireAsync(host.Request("high"), CancellationToken.None);
        var otherHolder = await host.Other.AcquireAsync(host.Request("high"), CancellationToken.None);
        for (var i = 0; i < 3; i++)
        {
            await host.Other.AcquireAsync(host.Request("high"), CancellationToken.None); // the other model has room for 4
        }

        // "low" may have 2 waiting in the whole cluster, whichever silo hosts each model grain.
        var first = await host.EnqueueAsync("low");
        var second = host.Other.AcquireAsync(host.Request("low"), CancellationToken.None);
        await Eventually.TrueAsync(async () => (await host.CountersAsync("low")).Waiting == 2, () => "low's second request never waited");
        var third = await host.ModelGrain.AcquireAsync(host.Request("low"), CancellationToken.None);

        Assert.Equal(LeaseOutcome.OverThreshold, third.Outcome);
        await host.AssertCountersAsync("high", inFlight: 5);
        await host.ReleaseAsync(holder);
        await host.ReleaseAsync(await first.WaitAsync(Eventually.Limit));
        await GrainTestHost.ReleaseAsync(host.Other, new LeaseRelease(otherHolder.LeaseId!, LeaseEndReason.Completed, 200, null));
        var late = await second.WaitAsync(Eventually.Limit);
        await GrainTestHost.ReleaseAsync(host.Other, new LeaseRelease(late.LeaseId!, LeaseEndReason.Completed, 200, null));
        Assert.Equal(3, (await host.Other.GetSnapshotAsync(CancellationToken.None)).InFlight);
    }

    [Fact]
    public async Task TokenCounts_WaitSubmittedAgainOrLeftByAGoneActivation_CountedOnceAndDroppedAfterTheLongestQueueTimeout()
    {
        await using var host = await GrainTestHost.StartAsync();
        var token = host.Grains.GetGrain<ITokenGrain>(GrainTestHost.TokenId("mid"));

        // A wait whose model activation died: it is counted once, even when submitted again under the same id.
        Assert.Equal(WaitAdmission.Admitted, await token.TryEnterWaitingAsync("req-gone", CancellationToken.None));
        Assert.Equal(WaitAdmission.Admitted, await token.TryEnterWaitingAsync("req-gone", CancellationToken.None));
        Assert.Equal(1, (await token.GetCountersAsync(CancellationToken.None)).Waiting);

        host.Time.Advance(host.Options.QueueTimeout + TimeSpan.FromMinutes(1) + TimeSpan.FromSeconds(1));

        Assert.Equal(0, (await token.GetCountersAsync(CancellationToken.None)).Waiting);
    }

    [Fact]
    public async Task TokenCounts_LeaseItsModelNoLongerHolds_IsDroppedAtTheNextCheck()
    {
        await using var host = await GrainTestHost.StartAsync();
        var grant = await host.ModelGrain.AcquireAsync(host.Request("mid"), CancellationToken.None);
        var token = host.Grains.GetGrain<ITokenGrain>(GrainTestHost.TokenId("mid"));
        await token.AdoptInFlightAsync(GrainTestHost.Model, "lease-of-a-gone-activation", CancellationToken.None);
        Assert.Equal(2, (await token.GetCountersAsync(CancellationToken.None)).InFlight);

        host.Time.Advance(TimeSpan.FromSeconds(10));

        await Eventually.TrueAsync(async () => (await token.GetCountersAsync(CancellationToken.None)).InFlight == 1, () => "the unknown lease is still counted");
        await host.ReleaseAsync(grant);
        await host.AssertNothingHeldAsync();
    }
}
