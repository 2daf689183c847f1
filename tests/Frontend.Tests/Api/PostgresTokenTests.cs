using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Dispatcher.Silo.Database;
using Dispatcher.Silo.Tokens;
using Dispatcher.Testing;
using Npgsql;

namespace Dispatcher.Frontend.Tests.Api;

/// <summary>The dispatcher with its tokens in a real PostgreSQL: revocation, outage, recovery.</summary>
public sealed class PostgresTokenTests
{
    /// <summary>How soon a revocation must take effect (it travels by notification; the cache TTL here is 10 minutes).</summary>
    private static readonly TimeSpan RevocationDeadline = TimeSpan.FromSeconds(5);

    private static async Task<(DispatcherHost Host, TokenAdmin Admin, NpgsqlDataSource DataSource)> StartAsync(PostgresServer server)
    {
        var connectionString = await server.CreateDatabaseAsync();
        var dataSource = NpgsqlDataSource.Create(connectionString);
        await PostgresMigrator.MigrateAsync(dataSource, CancellationToken.None);
        var host = await DispatcherHost.StartAsync(settings: new()
        {
            ["ConnectionStrings:Postgres"] = connectionString,
            ["Dispatcher:TokenStore:CacheTtl"] = "00:10:00",
            ["Dispatcher:TokenStore:RetryAfterFailure"] = "00:00:00.200",
        });
        return (host, new TokenAdmin(dataSource), dataSource);
    }

    private static async Task<HttpResponseMessage> ChatAsync(DispatcherHost host, string token) =>
        await host.CreateClient(token).PostAsync("/v1/chat/completions", DispatcherHost.Json(DispatcherHost.Chat(maxTokens: 2)));

    private static async Task<string> ErrorCodeAsync(HttpResponseMessage response) =>
        JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("error").GetProperty("code").GetString()!;

    [Fact]
    public async Task Revoke_TokenInUse_RefusedEverywhereWithinSeconds()
    {
        var (host, admin, dataSource) = await StartAsync(await PostgresServer.SharedAsync());
        await using var _ = host;
        await using var __ = dataSource;
        var secret = await admin.AddAsync("team-a", 5, 10, null, null, CancellationToken.None);
        host.Secrets.Add(secret);
        using (var before = await ChatAsync(host, secret))
        {
            Assert.Equal(HttpStatusCode.OK, before.StatusCode);
        }

        await admin.RevokeAsync("team-a", CancellationToken.None);
        var clock = Stopwatch.StartNew();
        await Eventually.TrueAsync(async () =>
        {
            using var response = await ChatAsync(host, secret);
            return response.StatusCode == HttpStatusCode.Unauthorized;
        }, () => "the revoked token is still accepted");

        Assert.True(clock.Elapsed < RevocationDeadline, $"revocation took {clock.Elapsed}");
    }

    [Fact]
    public async Task NewToken_AddedWhileRunning_AcceptedAtOnce()
    {
        var (host, admin, dataSource) = await StartAsync(await PostgresServer.SharedAsync());
        await using var _ = host;
        await using var __ = dataSource;

        var secret = await admin.AddAsync("late", 1, 2, null, null, CancellationToken.None);
        host.Secrets.Add(secret);

        using var response = await ChatAsync(host, secret);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task DatabaseDown_CachedTokensKeepWorkingUnknownOnesGet503_AndServiceResumes()
    {
        await using var server = await PostgresServer.StartPrivateAsync();
        var (host, admin, dataSource) = await StartAsync(server);
        await using var _ = host;
        await using var __ = dataSource;
        var used = await admin.AddAsync("used", 5, 10, null, null, CancellationToken.None);
        var unused = await admin.AddAsync("unused", 5, 10, null, null, CancellationToken.None);
        host.Secrets.AddRange([used, unused]);
        using (var warm = await ChatAsync(host, used))
        {
            Assert.Equal(HttpStatusCode.OK, warm.StatusCode);
        }

        await server.StopAsync();

        using (var cached = await ChatAsync(host, used))
        {
            Assert.Equal(HttpStatusCode.OK, cached.StatusCode);
        }

        foreach (var token in new[] { unused, "sk-never-issued" })
        {
            using var refused = await ChatAsync(host, token);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
            Assert.Equal("token_store_unavailable", await ErrorCodeAsync(refused));
            Assert.True(refused.Headers.Contains("Retry-After"));
        }

        await server.StartAgainAsync();
        await Eventually.TrueAsync(async () =>
        {
            using var response = await ChatAsync(host, unused);
            return response.StatusCode == HttpStatusCode.OK;
        }, () => "service did not resume after the database came back");
        using var stranger = await ChatAsync(host, "sk-never-issued");
        Assert.Equal(HttpStatusCode.Unauthorized, stranger.StatusCode);
    }
}
