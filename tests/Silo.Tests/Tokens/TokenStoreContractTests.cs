using Dispatcher.Grains.Abstractions.Configuration;
using Dispatcher.Grains.Abstractions.Tokens;
using Dispatcher.Grains.Tokens;
using Dispatcher.Silo.Database;
using Dispatcher.Silo.Tokens;
using Dispatcher.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Dispatcher.Silo.Tests.Tokens;

/// <summary>One token to seed a store with.</summary>
public sealed record SeedToken(string Name, string Secret, int Priority, int Threshold, int? MaxInFlight, bool Revoked);

/// <summary>What every token store must do, written once and run against each implementation.</summary>
public abstract class TokenStoreContractTests
{
    private static readonly SeedToken[] Seeds =
    [
        new("alpha", "secret-alpha", 5, 10, 2, false),
        new("beta", "secret-beta", 1, 3, null, false),
        new("gamma", "secret-gamma", 7, 4, null, true),
    ];

    /// <summary>A store holding exactly <paramref name="seeds"/>.</summary>
    protected abstract Task<ITokenStore> CreateStoreAsync(IReadOnlyList<SeedToken> seeds);

    [Fact]
    public async Task FindAsync_KnownToken_ReturnsItsPolicy()
    {
        var store = await CreateStoreAsync(Seeds);

        var alpha = await store.FindAsync(TokenHash.Compute("secret-alpha"), CancellationToken.None);
        var beta = await store.FindAsync(TokenHash.Compute("secret-beta"), CancellationToken.None);

        Assert.Equal(TokenLookup.Found(new TokenPolicy("alpha", 5, 10, 2)), alpha);
        Assert.Equal(TokenLookup.Found(new TokenPolicy("beta", 1, 3, null)), beta);
    }

    [Theory]
    [InlineData("secret-gamma")]
    [InlineData("secret-unknown")]
    public async Task FindAsync_RevokedOrUnknownToken_IsUnknown(string secret)
    {
        var store = await CreateStoreAsync(Seeds);

        Assert.Equal(TokenLookup.Unknown, await store.FindAsync(TokenHash.Compute(secret), CancellationToken.None));
    }

    [Fact]
    public async Task FindAsync_TheSecretItselfInsteadOfItsHash_IsUnknown()
    {
        var store = await CreateStoreAsync(Seeds);

        Assert.Equal(TokenLookup.Unknown, await store.FindAsync("secret-alpha", CancellationToken.None));
        Assert.Equal(TokenLookup.Unknown, await store.FindAsync(TokenHash.Compute("secret-alpha").ToUpperInvariant(), CancellationToken.None));
    }
}

public sealed class ConfigurationTokenStoreContractTests : TokenStoreContractTests
{
    protected override Task<ITokenStore> CreateStoreAsync(IReadOnlyList<SeedToken> seeds)
    {
        // Configuration has no revocation: a revoked token is one taken out of the file.
        var options = new DispatcherOptions
        {
            Tokens = [.. seeds.Where(s => !s.Revoked).Select(s => new TokenOptions { Name = s.Name, Token = s.Secret, Priority = s.Priority, Threshold = s.Threshold, MaxInFlight = s.MaxInFlight })],
        };
        return Task.FromResult<ITokenStore>(new ConfigurationTokenStore(Options.Create(options)));
    }

    [Fact]
    public async Task FindAsync_TokenInTheSeedsShapeWithoutName_NamedAfterItsHashNeverItsSecret()
    {
        var options = new DispatcherOptions { Tokens = [new TokenOptions { Token = "sk-seed-shape-0001", Priority = 3, Threshold = 7 }] };
        Assert.Empty(DispatcherOptionsValidator.Validate(options));
        var id = TokenHash.Compute("sk-seed-shape-0001");

        var found = await new ConfigurationTokenStore(Options.Create(options)).FindAsync(id, CancellationToken.None);

        Assert.Equal(new TokenPolicy($"token-{id[..8]}", 3, 7), found.Policy);
    }
}

public sealed class PostgresTokenStoreContractTests : TokenStoreContractTests
{
    protected override async Task<ITokenStore> CreateStoreAsync(IReadOnlyList<SeedToken> seeds)
    {
        var server = await PostgresServer.SharedAsync();
        var dataSource = NpgsqlDataSource.Create(await server.CreateDatabaseAsync());
        await PostgresMigrator.MigrateAsync(dataSource, CancellationToken.None);
        foreach (var seed in seeds)
        {
            await using var command = dataSource.CreateCommand("""
                INSERT INTO dispatcher_tokens (name, token_sha256, priority, threshold, max_in_flight, revoked_at)
                VALUES (@name, @hash, @priority, @threshold, @max, CASE WHEN @revoked THEN now() END)
                """);
            command.Parameters.AddWithValue("name", seed.Name);
            command.Parameters.AddWithValue("hash", TokenHash.Compute(seed.Secret));
            command.Parameters.AddWithValue("priority", seed.Priority);
            command.Parameters.AddWithValue("threshold", seed.Threshold);
            command.Parameters.AddWithValue("max", (object?)seed.MaxInFlight ?? DBNull.Value).NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Integer;
            command.Parameters.AddWithValue("revoked", seed.Revoked);
            await command.ExecuteNonQueryAsync();
        }

        return new PostgresTokenStore(dataSource, Options.Create(new DispatcherOptions()), TimeProvider.System, NullLogger<PostgresTokenStore>.Instance);
    }
}
