using System.Globalization;
using System.Security.Cryptography;
using Dispatcher.Grains.Abstractions.Configuration;
using Dispatcher.Grains.Abstractions.Tokens;
using Npgsql;

namespace Dispatcher.Silo.Tokens;

/// <summary>
/// Administers the tokens in PostgreSQL: add (the secret is returned once and only its hash stored), list
/// (never secrets), set priority/threshold/in-flight limit, revoke, and import Aristote's plain-text
/// <c>users</c> table. Every change is announced to the silos by the table's trigger.
/// </summary>
public sealed class TokenAdmin(NpgsqlDataSource dataSource)
{
    /// <summary>One token as listed: everything but the secret.</summary>
    public sealed record Entry(string Name, int Priority, int Threshold, int? MaxInFlight, string? ClientType, DateTimeOffset CreatedAt, DateTimeOffset? RevokedAt);

    /// <summary>Creates a token and returns its secret, which is not stored and cannot be shown again.</summary>
    public async Task<string> AddAsync(string name, int priority, int threshold, int? maxInFlight, string? clientType, CancellationToken cancellationToken)
    {
        Check(priority, threshold, maxInFlight);
        var secret = "dsp-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(24));
        await using var command = dataSource.CreateCommand("""
            INSERT INTO dispatcher_tokens (name, token_sha256, priority, threshold, max_in_flight, client_type)
            VALUES (@name, @hash, @priority, @threshold, @maxInFlight, @clientType)
            """);
        command.Parameters.AddWithValue("name", name);
        command.Parameters.AddWithValue("hash", TokenHash.Compute(secret));
        command.Parameters.AddWithValue("priority", priority);
        command.Parameters.AddWithValue("threshold", threshold);
        command.Parameters.AddWithValue("maxInFlight", (object?)maxInFlight ?? DBNull.Value);
        command.Parameters.AddWithValue("clientType", (object?)clientType ?? DBNull.Value);
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        return secret;
    }

    /// <summary>
    /// Creates token <paramref name="name"/> with the given secret, or updates it (secret, settings, un-revoked):
    /// what a deployment that keeps its secrets in its own secret store runs at every install.
    /// </summary>
    public async Task PutAsync(string name, string secret, int priority, int threshold, int? maxInFlight, CancellationToken cancellationToken)
    {
        Check(priority, threshold, maxInFlight);
        if (secret.Length < 16)
        {
            throw new ArgumentException("A token secret must be at least 16 characters long.", nameof(secret));
        }

        await using var command = dataSource.CreateCommand("""
            INSERT INTO dispatcher_tokens (name, token_sha256, priority, threshold, max_in_flight)
            VALUES (@name, @hash, @priority, @threshold, @maxInFlight)
            ON CONFLICT (name) DO UPDATE SET token_sha256 = EXCLUDED.token_sha256, priority = EXCLUDED.priority,
                threshold = EXCLUDED.threshold, max_in_flight = EXCLUDED.max_in_flight, revoked_at = NULL
            """);
        command.Parameters.AddWithValue("name", name);
        command.Parameters.AddWithValue("hash", TokenHash.Compute(secret));
        command.Parameters.AddWithValue("priority", priority);
        command.Parameters.AddWithValue("threshold", threshold);
        command.Parameters.AddWithValue("maxInFlight", (object?)maxInFlight ?? DBNull.Value).NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Integer;
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<Entry>> ListAsync(CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(
            "SELECT name, priority, threshold, max_in_flight, client_type, created_at, revoked_at FROM dispatcher_tokens ORDER BY name");
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        var entries = new List<Entry>();
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            entries.Add(new Entry(reader.GetString(0), reader.GetInt32(1), reader.GetInt32(2), reader.IsDBNull(3) ? null : reader.GetInt32(3),
                reader.IsDBNull(4) ? null : reader.GetString(4), reader.GetFieldValue<DateTimeOffset>(5),
                reader.IsDBNull(6) ? null : reader.GetFieldValue<DateTimeOffset>(6)));
        }

        return entries;
    }

    /// <summary>Changes the given settings of token <paramref name="name"/>; false when there is no such token.</summary>
    public async Task<bool> SetAsync(string name, int? priority, int? threshold, int? maxInFlight, bool clearMaxInFlight, CancellationToken cancellationToken)
    {
        Check(priority ?? 1, threshold ?? 1, maxInFlight);
        await using var command = dataSource.CreateCommand("""
            UPDATE dispatcher_tokens SET
                priority = COALESCE(@priority, priority),
                threshold = COALESCE(@threshold, threshold),
                max_in_flight = CASE WHEN @clear THEN NULL ELSE COALESCE(@maxInFlight, max_in_flight) END
            WHERE name = @name
            """);
        command.Parameters.AddWithValue("name", name);
        command.Parameters.AddWithValue("priority", (object?)priority ?? DBNull.Value).NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Integer;
        command.Parameters.AddWithValue("threshold", (object?)threshold ?? DBNull.Value).NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Integer;
        command.Parameters.AddWithValue("maxInFlight", (object?)maxInFlight ?? DBNull.Value).NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Integer;
        command.Parameters.AddWithValue("clear", clearMaxInFlight);
        return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) == 1;
    }

    /// <summary>Revokes token <paramref name="name"/>; false when there is no such token or it was revoked already.</summary>
    public async Task<bool> RevokeAsync(string name, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("UPDATE dispatcher_tokens SET revoked_at = now() WHERE name = @name AND revoked_at IS NULL");
        command.Parameters.AddWithValue("name", name);
        return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) == 1;
    }

    /// <summary>
    /// Copies Aristote Dispatcher's <c>users(token, priority, threshold, client_type[, name])</c> table in, hashing
    /// each plain-text token; rows whose token or name is already present are skipped. Returns the rows copied.
    /// Drop the old table afterwards: it still holds the secrets in plain text.
    /// </summary>
    public async Task<int> ImportLegacyAsync(string table, CancellationToken cancellationToken)
    {
        if (!table.All(c => char.IsAsciiLetterOrDigit(c) || c == '_'))
        {
            throw new ArgumentException("The table name may hold only letters, digits and underscores.", nameof(table));
        }

        await using var probe = dataSource.CreateCommand("SELECT count(*) FROM information_schema.columns WHERE table_name = @table AND column_name = 'name'");
        probe.Parameters.AddWithValue("table", table);
        var hasName = (long)(await probe.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) ?? 0L) > 0;
        var name = hasName ? "COALESCE(NULLIF(u.name, ''), 'legacy-' || u.id)" : "'legacy-' || u.id";
        await using var command = dataSource.CreateCommand($"""
            INSERT INTO dispatcher_tokens (name, token_sha256, priority, threshold, client_type)
            SELECT {name}, encode(sha256(convert_to(u.token, 'UTF8')), 'hex'),
                   LEAST(GREATEST(COALESCE(u.priority, 1), 1), {SchedulingOptions.MaxPriority}), GREATEST(COALESCE(u.threshold, 1), 1), u.client_type::text
            FROM {table} u
            WHERE u.token IS NOT NULL AND u.token <> ''
            ON CONFLICT DO NOTHING
            """);
        return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    private static void Check(int priority, int threshold, int? maxInFlight)
    {
        if (priority is < 1 or > SchedulingOptions.MaxPriority)
        {
            throw new ArgumentOutOfRangeException(nameof(priority), string.Create(CultureInfo.InvariantCulture, $"priority must be from 1 to {SchedulingOptions.MaxPriority}"));
        }

        if (threshold < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(threshold), "threshold must be at least 1");
        }

        if (maxInFlight is < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(maxInFlight), "max in flight must be at least 1");
        }
    }
}
