using System.Net;
using Dispatcher.Silo.Cluster;
using Dispatcher.Testing;
using Npgsql;

namespace Dispatcher.Cluster.Tests;

/// <summary>A model changing silo under a Frontend: running streams go on, waiting requests keep their place.</summary>
public sealed class HandoverTests
{
    private const string Model = "moving-model";

    [Fact]
    public async Task OwnerStopsGracefully_RunningStreamFinishes_WaitingRequestIsServedByTheNewOwner()
    {
        var postgres = await (await PostgresServer.SharedAsync()).CreateDatabaseAsync();
        await Fleet.PutTokenAsync(postgres);
        await using var fleet = await Fleet.StartAsync([Model], replicasPerModel: 1, TimeSpan.FromMilliseconds(20));
        var settings = fleet.Settings(capacity: 1, tokenInConfiguration: false);
        await using var first = await SiloNode.StartAsync("first", postgres, settings);
        await Eventually.TrueAsync(() => first.Hosts(Model), () => "the only silo did not take the model");
        await using var second = await SiloNode.StartAsync("second", postgres, settings);
        await using var frontend = await FrontendNode.StartAsync([first.Address, second.Address], settings);
        using var http = Fleet.Client(frontend.Address);
        using var calls = new SiloCalls();

        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = Fleet.Chat(Model, 100, stream: true) };
        using var streaming = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, streaming.StatusCode);
        using var stream = new StreamReader(await streaming.Content.ReadAsStreamAsync());
        Assert.StartsWith("data: ", await stream.ReadLineAsync(), StringComparison.Ordinal);
        var waiting = http.PostAsync("/v1/chat/completions", Fleet.Chat(Model, 5, stream: false));
        await Eventually.TrueAsync(async () => (await RemoteSiloTests.SnapshotAsync(calls, first.Address, Model)).Waiting == 1, () => "second request not waiting");

        await first.StopAsync();

        // The new owner counts the running stream (adopted) and holds the waiting request behind it (capacity 1).
        await Eventually.TrueAsync(async () => second.Hosts(Model) && await RemoteSiloTests.SnapshotAsync(calls, second.Address, Model) is { InFlight: 1 },
            () => "the running stream's lease was not adopted");
        var rest = await stream.ReadToEndAsync();
        Assert.EndsWith("data: [DONE]", rest.TrimEnd(), StringComparison.Ordinal);
        using var served = await waiting;
        Assert.Equal(HttpStatusCode.OK, served.StatusCode);

        await Eventually.TrueAsync(async () =>
            await RemoteSiloTests.SnapshotAsync(calls, second.Address, Model) is { Waiting: 0, InFlight: 0 }
            && await RemoteSiloTests.CountersAsync(calls, second.Address) is { Waiting: 0, InFlight: 0 },
            () => "the new owner did not drain");
        var ids = fleet.AllReplicas.SelectMany(r => r.RequestIds).ToList();
        Assert.Equal(2, ids.Count);
        Assert.Equal(2, ids.Distinct().Count()); // nothing was sent twice
        Assert.Contains(frontend.Logs.Lines, l => l.Contains("adopted by silo second", StringComparison.Ordinal));
    }

    [Fact]
    public async Task OwnerLosesItsDatabaseSession_NeverTwoSilosServeTheModelAndOneServesItAfter()
    {
        var postgres = await (await PostgresServer.SharedAsync()).CreateDatabaseAsync();
        await Fleet.PutTokenAsync(postgres);
        await using var fleet = await Fleet.StartAsync([Model], replicasPerModel: 1, TimeSpan.FromMilliseconds(2));
        var settings = fleet.Settings(capacity: 4, tokenInConfiguration: false);
        settings["Dispatcher:Cluster:HeartbeatInterval"] = "00:00:00.200";
        settings["Dispatcher:Cluster:OwnershipTimeout"] = "00:00:01";
        settings["Dispatcher:Cluster:TakeoverGrace"] = "00:00:00"; // the second silo tries for the model on every heartbeat
        settings["Dispatcher:Cluster:RebalanceDelay"] = "01:00:00";
        await using var first = await SiloNode.StartAsync("first", postgres, settings);
        await Eventually.TrueAsync(() => first.Hosts(Model), () => "the only silo did not take the model");
        await using var second = await SiloNode.StartAsync("second", postgres, settings);

        await using (var database = NpgsqlDataSource.Create(postgres))
        {
            // End the session holding the model's lock (the first silo's), as a database failover or a cut network would.
            // The first silo, alive, serves on while it reconnects; the second may lock the model meanwhile, and must
            // then wait out the first silo's ownership timeout, which sees its lock gone when it reconnects.
            var key = ClusterKeys.ModelLock(Model);
            await using var command = database.CreateCommand("""
                SELECT pg_terminate_backend(pid) FROM pg_locks
                WHERE locktype = 'advisory' AND objsubid = 1 AND classid::bigint = @hi AND objid::bigint = @lo
                """);
            command.Parameters.AddWithValue("hi", (long)((ulong)key >> 32));
            command.Parameters.AddWithValue("lo", (long)((ulong)key & 0xFFFFFFFF));
            Assert.Equal(true, await command.ExecuteScalarAsync());
        }

        var watch = System.Diagnostics.Stopwatch.StartNew();
        while (watch.Elapsed < TimeSpan.FromSeconds(3))
        {
            Assert.False(first.Hosts(Model) && second.Hosts(Model), "both silos served the model at once");
            await Task.Delay(2);
        }

        Assert.True(first.Hosts(Model) ^ second.Hosts(Model), "exactly one silo serves the model");
        Assert.Contains(first.Logs.Lines, l => l.Contains("cluster session lost", StringComparison.Ordinal));
    }
}
