using Dispatcher.Grains.Abstractions.Configuration;
using Dispatcher.Grains.Abstractions.Tokens;
using Dispatcher.Silo.Database;
using Dispatcher.Silo.Tokens;
using Dispatcher.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Dispatcher.Silo.Tests.Tokens;

public sealed class TokenAdminTests
{
    private static async Task<(string ConnectionString, NpgsqlDataSource DataSource)> DatabaseAsync()
    {
        var connectionString = await (await PostgresServer.SharedAsync()).CreateDatabaseAsync();
        return (connectionString, NpgsqlDataSource.Create(connectionString));
    }

    private static PostgresTokenStore Store(NpgsqlDataSource dataSource) =>
        new(dataSource, Options.Create(new DispatcherOptions()), TimeProvider.System, NullLogger<PostgresTokenStore>.Instance);

    private static async Task<(int Code, string Output, string Error)> RunAsync(string connectionString, params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var code = await SiloCommands.RunAsync([.. args, "--ConnectionStrings:Postgres", connectionString], output, error, CancellationToken.None);
        return (code, output.ToString(), error.ToString());
    }

    [Fact]
    public async Task Migrate_Twice_SecondRunAppliesNothing()
    {
        var (_, dataSource) = await DatabaseAsync();
        await using var _ = dataSource;

        Assert.NotEmpty(await PostgresMigrator.MigrateAsync(dataSource, CancellationToken.None));
        Assert.Empty(await PostgresMigrator.MigrateAsync(dataSource, CancellationToken.None));
    }

    [Fact]
    public async Task Commands_AddListSetRevoke_SecretShownOnceAndStoredOnlyAsHash()
    {
        var (connectionString, dataSource) = await DatabaseAsync();
        await using var _ = dataSource;

        var added = await RunAsync(connectionString, "tokens", "add", "--name", "team-a", "--priority", "5", "--threshold", "10", "--max-in-flight", "3");
        Assert.Equal(0, added.Code);
        var secret = added.Output.Split('\n', StringSplitOptions.TrimEntries).Single(l => l.StartsWith("dsp-", StringComparison.Ordinal));
        Assert.Equal(TokenLookup.Found(new TokenPolicy("team-a", 5, 10, 3)), await Store(dataSource).FindAsync(TokenHash.Compute(secret), CancellationToken.None));

        await using (var dump = dataSource.CreateCommand("SELECT string_agg(t::text, ' ') FROM dispatcher_tokens t"))
        {
            Assert.DoesNotContain(secret, (string)(await dump.ExecuteScalarAsync())!, StringComparison.Ordinal);
        }

        var listed = await RunAsync(connectionString, "tokens", "list");
        Assert.Contains("team-a\t5\t10\t3", listed.Output, StringComparison.Ordinal);
        Assert.DoesNotContain(secret, listed.Output, StringComparison.Ordinal);
        Assert.DoesNotContain(TokenHash.Compute(secret), listed.Output, StringComparison.Ordinal);

        Assert.Equal(0, (await RunAsync(connectionString, "tokens", "set", "--name", "team-a", "--priority", "8", "--no-max-in-flight")).Code);
        Assert.Equal(TokenLookup.Found(new TokenPolicy("team-a", 8, 10, null)), await Store(dataSource).FindAsync(TokenHash.Compute(secret), CancellationToken.None));

        Assert.Equal(0, (await RunAsync(connectionString, "tokens", "revoke", "--name", "team-a")).Code);
        Assert.Equal(TokenLookup.Unknown, await Store(dataSource).FindAsync(TokenHash.Compute(secret), CancellationToken.None));
        Assert.Equal(1, (await RunAsync(connectionString, "tokens", "revoke", "--name", "team-a")).Code);
    }

    [Fact]
    public async Task Put_SecretFromEnvironment_CreatesThenUpdatesAndRestores()
    {
        var (connectionString, dataSource) = await DatabaseAsync();
        await using var _ = dataSource;
        const string variable = "DISPATCHER_TEST_PUT_SECRET";
        Environment.SetEnvironmentVariable(variable, "a-deployment-secret-0001");

        Assert.Equal(0, (await RunAsync(connectionString, "tokens", "put", "--name", "svc", "--secret-from-env", variable, "--priority", "3", "--threshold", "4")).Code);
        Assert.Equal(0, (await RunAsync(connectionString, "tokens", "revoke", "--name", "svc")).Code);
        Environment.SetEnvironmentVariable(variable, "a-rotated-secret-00002");
        var put = await RunAsync(connectionString, "tokens", "put", "--name", "svc", "--secret-from-env", variable, "--priority", "6", "--threshold", "4");

        Assert.Equal(0, put.Code);
        Assert.DoesNotContain("a-rotated-secret", put.Output, StringComparison.Ordinal);
        var store = Store(dataSource);
        Assert.Equal(TokenLookup.Unknown, await store.FindAsync(TokenHash.Compute("a-deployment-secret-0001"), CancellationToken.None));
        Assert.Equal(TokenLookup.Found(new TokenPolicy("svc", 6, 4, null)), await store.FindAsync(TokenHash.Compute("a-rotated-secret-00002"), CancellationToken.None));
        Environment.SetEnvironmentVariable(variable, null);
    }

    [Theory]
    [InlineData(2, "tokens", "add", "--priority", "5")]
    [InlineData(2, "tokens", "add", "--name", "x", "--priority", "0")]
    [InlineData(2, "tokens", "add", "--name", "x", "--priority", "many")]
    [InlineData(2, "tokens", "fly")]
    [InlineData(1, "tokens", "set", "--name", "nobody", "--priority", "2")]
    [InlineData(2, "tokens", "put", "--name", "x", "--secret-from-env", "DISPATCHER_TEST_UNSET_VARIABLE")]
    public async Task Commands_BadUsage_ExplainAndFail(int code, params string[] args)
    {
        var (connectionString, dataSource) = await DatabaseAsync();
        await using var _ = dataSource;

        var result = await RunAsync(connectionString, args);

        Assert.Equal(code, result.Code);
        Assert.False(string.IsNullOrWhiteSpace(result.Error));
    }

    [Fact]
    public async Task Commands_NoDatabaseConfigured_SayWhatIsMissing()
    {
        using var error = new StringWriter();
        var code = await SiloCommands.RunAsync(["tokens", "list"], TextWriter.Null, error, CancellationToken.None);

        Assert.Equal(2, code);
        Assert.Contains("ConnectionStrings:Postgres", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ImportLegacy_AristoteUsersTable_HashesEveryTokenOnce()
    {
        var (connectionString, dataSource) = await DatabaseAsync();
        await using var _ = dataSource;
        await using (var legacy = dataSource.CreateCommand("""
            CREATE TYPE client_type AS ENUM ('chat');
            CREATE TABLE users (id serial PRIMARY KEY, token varchar(255) UNIQUE, priority int NOT NULL, threshold int NOT NULL, client_type client_type);
            INSERT INTO users (token, priority, threshold, client_type) VALUES ('plain-one', 5, 10, 'chat'), ('plain-two', 9, 0, NULL), ('', 1, 1, NULL);
            """))
        {
            await legacy.ExecuteNonQueryAsync();
        }

        var first = await RunAsync(connectionString, "tokens", "import-legacy");
        var again = await RunAsync(connectionString, "tokens", "import-legacy", "--table", "users");

        Assert.Contains("2 tokens imported", first.Output, StringComparison.Ordinal);
        Assert.Contains("0 tokens imported", again.Output, StringComparison.Ordinal);
        var store = Store(dataSource);
        Assert.Equal(TokenLookup.Found(new TokenPolicy("legacy-1", 5, 10, null)), await store.FindAsync(TokenHash.Compute("plain-one"), CancellationToken.None));
        Assert.Equal(TokenLookup.Found(new TokenPolicy("legacy-2", 9, 1, null)), await store.FindAsync(TokenHash.Compute("plain-two"), CancellationToken.None));
    }

    [Fact]
    public async Task Store_DatabaseDown_AnswersUnavailableAtOnceAndRecovers()
    {
        await using var server = await PostgresServer.StartPrivateAsync();
        var connectionString = await server.CreateDatabaseAsync();
        await using var dataSource = NpgsqlDataSource.Create(connectionString);
        var admin = new TokenAdmin(dataSource);
        await PostgresMigrator.MigrateAsync(dataSource, CancellationToken.None);
        var secret = await admin.AddAsync("svc", 2, 2, null, null, CancellationToken.None);
        var store = new PostgresTokenStore(dataSource, Options.Create(new DispatcherOptions { TokenStore = { RetryAfterFailure = TimeSpan.FromMilliseconds(200) } }),
            TimeProvider.System, NullLogger<PostgresTokenStore>.Instance);

        await server.StopAsync();
        Assert.Equal(TokenLookup.StoreUnavailable, await store.FindAsync(TokenHash.Compute(secret), CancellationToken.None));
        Assert.Equal(TokenLookup.StoreUnavailable, await store.FindAsync(TokenHash.Compute(secret), CancellationToken.None));

        await server.StartAgainAsync();
        await Eventually.TrueAsync(async () => (await store.FindAsync(TokenHash.Compute(secret), CancellationToken.None)).Status == TokenLookupStatus.Found,
            () => "the store did not recover");
    }
}
