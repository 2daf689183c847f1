using System.Net;
using Dispatcher.Grains.Abstractions.Leases;
using Dispatcher.Grains.Abstractions.Tokens;
using Dispatcher.Silo.Cluster;
using Dispatcher.Silo.Remote;
using Dispatcher.Testing;
using Npgsql;

namespace Dispatcher.Cluster.Tests;

/// <summary>Silos sharing a database: each model is hosted by exactly one of them, whatever the race.</summary>
public sealed class SingleActivationTests
{
    private const string Model = "contested";
    private static readonly string TokenId = TokenHash.Compute(Fleet.Token);

    [Fact]
    public async Task TwoSilosRacing_OnlyOneGrantsLeases_TheOtherSendsCallersAway()
    {
        var postgres = await (await PostgresServer.SharedAsync()).CreateDatabaseAsync();
        await Fleet.PutTokenAsync(postgres);
        await using var fleet = await Fleet.StartAsync([Model], replicasPerModel: 1, TimeSpan.FromMilliseconds(2));
        var settings = fleet.Settings(capacity: 100, tokenInConfiguration: false);
        settings["Dispatcher:Cluster:TakeoverGrace"] = "00:00:00"; // both silos try for every free model on every heartbeat
        settings["Dispatcher:Cluster:HeartbeatInterval"] = "00:00:00.200";
        settings["Dispatcher:Cluster:OwnershipTimeout"] = "00:00:01";
        settings["Dispatcher:Cluster:RebalanceDelay"] = "01:00:00"; // no handover to the preferred silo during the test

        var started = await Task.WhenAll(SiloNode.StartAsync("racer-a", postgres, settings), SiloNode.StartAsync("racer-b", postgres, settings));
        await using var a = started[0];
        await using var b = started[1];
        await Eventually.TrueAsync(() => a.Hosts(Model) || b.Hosts(Model), () => "nobody took the model");
        for (var round = 0; round < 10; round++)
        {
            Assert.True(a.Hosts(Model) ^ b.Hosts(Model), "exactly one silo hosts the model");
            await Task.Delay(100); // several heartbeats of both silos racing
        }

        var (owner, other) = a.Hosts(Model) ? (a, b) : (b, a);
        using var calls = new SiloCalls();
        var leases = new List<HttpResponseMessage>();
        for (var i = 0; i < 5; i++)
        {
            var toOwner = await calls.OpenLeaseAsync(owner.Address, new LeaseCall(Model, new LeaseRequest($"o-{i}", TokenId, 5)));
            leases.Add(toOwner);
            var decision = await SiloCalls.ReadDecisionAsync(new StreamReader(await toOwner.Content.ReadAsStreamAsync()));
            Assert.True(decision?.Type == LeaseEvent.Granted, $"lease {i}: {decision}");
            using var toOther = await calls.OpenLeaseAsync(other.Address, new LeaseCall(Model, new LeaseRequest($"x-{i}", TokenId, 5)));
            Assert.Equal(HttpStatusCode.MisdirectedRequest, toOther.StatusCode);
        }

        Assert.False(other.HasActivation(Model), "the other silo never activated the model's grain");
        var view = await calls.ViewAsync(other.Address);
        Assert.Equal(owner.SiloId, Assert.Single(view.Models).SiloId);
        Assert.Equal(2, view.Silos.Count);
        Assert.Equal(5, (await RemoteSiloTests.SnapshotAsync(calls, owner.Address, Model)).InFlight);
        leases.ForEach(l => l.Dispose());
        await Eventually.TrueAsync(async () => (await RemoteSiloTests.SnapshotAsync(calls, owner.Address, Model)).InFlight == 0, () => "leases of dropped calls still held");
    }

    [Fact]
    public async Task Owner_StopsGracefully_TheOtherSiloTakesTheModelAtOnceAndCallsAreMoved()
    {
        var postgres = await (await PostgresServer.SharedAsync()).CreateDatabaseAsync();
        await Fleet.PutTokenAsync(postgres);
        await using var fleet = await Fleet.StartAsync([Model], replicasPerModel: 1, TimeSpan.FromMilliseconds(2));
        var settings = fleet.Settings(capacity: 1, tokenInConfiguration: false);
        await using var first = await SiloNode.StartAsync("first", postgres, settings);
        await Eventually.TrueAsync(() => first.Hosts(Model), () => "the only silo did not take the model");
        await using var second = await SiloNode.StartAsync("second", postgres, settings);
        using var calls = new SiloCalls();

        // One lease held, one request waiting behind it (capacity 1).
        using var held = await calls.OpenLeaseAsync(first.Address, new LeaseCall(Model, new LeaseRequest("held", TokenId, 5)));
        var heldReader = new StreamReader(await held.Content.ReadAsStreamAsync());
        Assert.Equal(LeaseEvent.Granted, (await SiloCalls.ReadDecisionAsync(heldReader))?.Type);
        using var waiting = await calls.OpenLeaseAsync(first.Address, new LeaseCall(Model, new LeaseRequest("waiting", TokenId, 5)));
        var waitingReader = new StreamReader(await waiting.Content.ReadAsStreamAsync());
        Assert.Contains(LeaseEvent.Queued, await waitingReader.ReadLineAsync(), StringComparison.Ordinal);

        var stopping = first.StopAsync();
        Assert.Equal(LeaseEvent.Moved, (await SiloCalls.ReadDecisionAsync(waitingReader))?.Type);
        Assert.Equal(LeaseEvent.Moved, (await SiloCalls.ReadDecisionAsync(heldReader))?.Type);
        await stopping;

        await Eventually.TrueAsync(() => second.Hosts(Model), () => "the second silo did not take the model");
        using var again = await calls.OpenLeaseAsync(second.Address, new LeaseCall(Model, new LeaseRequest("again", TokenId, 5)));
        Assert.Equal(LeaseEvent.Granted, (await SiloCalls.ReadDecisionAsync(new StreamReader(await again.Content.ReadAsStreamAsync())))?.Type);

        await using var database = NpgsqlDataSource.Create(postgres);
        await using var command = database.CreateCommand("SELECT count(*) FROM dispatcher_silos WHERE silo_id = 'first'");
        Assert.Equal(0L, await command.ExecuteScalarAsync()); // a silo that left removes itself
    }

    [Fact]
    public async Task NewSilo_AfterTheRebalanceDelay_ReceivesTheModelsRendezvousGivesIt()
    {
        var models = Enumerable.Range(0, 6).Select(i => $"model-{i}").ToList();
        var postgres = await (await PostgresServer.SharedAsync()).CreateDatabaseAsync();
        await Fleet.PutTokenAsync(postgres);
        await using var fleet = await Fleet.StartAsync(models, replicasPerModel: 1, TimeSpan.FromMilliseconds(2));
        var settings = fleet.Settings(capacity: 10, tokenInConfiguration: false);
        settings["Dispatcher:Cluster:RebalanceDelay"] = "00:00:01";
        settings["Dispatcher:Cluster:HeartbeatInterval"] = "00:00:00.200";
        settings["Dispatcher:Cluster:OwnershipTimeout"] = "00:00:01";
        await using var first = await SiloNode.StartAsync("alpha", postgres, settings);
        await Eventually.TrueAsync(() => models.TrueForAll(first.Hosts), () => "the only silo did not take every model");

        await using var second = await SiloNode.StartAsync("beta", postgres, settings);
        var expected = models.Where(m => ClusterKeys.Preferred(m, ["alpha", "beta"]) == "beta").ToList();
        Assert.NotEmpty(expected); // six models on two silos: rendezvous gives some to each
        await Eventually.TrueAsync(() => expected.TrueForAll(second.Hosts) && models.Except(expected).All(first.Hosts), () => "models did not spread");
        Assert.All(models, m => Assert.True(first.Hosts(m) ^ second.Hosts(m)));
    }
}
