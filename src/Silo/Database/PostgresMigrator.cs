using System.Reflection;
using Npgsql;

namespace Dispatcher.Silo.Database;

/// <summary>
/// Applies the SQL scripts under <c>Database/Sql</c> (embedded, applied in name order) that the database has not
/// seen yet, each recorded in <c>dispatcher_schema_migrations</c>. Idempotent, and safe when several silos start
/// at once: the whole run holds a transaction-scoped advisory lock.
/// </summary>
public static class PostgresMigrator
{
    private const long LockKey = 0x44_69_73_70_61_74_63_68; // "Dispatch"

    /// <summary>Applies what is missing; returns the names of the scripts applied now.</summary>
    public static async Task<IReadOnlyList<string>> MigrateAsync(NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await ExecuteAsync(connection, "SELECT pg_advisory_xact_lock(@key)", cancellationToken, ("key", LockKey)).ConfigureAwait(false);
        await ExecuteAsync(connection, """
            CREATE TABLE IF NOT EXISTS dispatcher_schema_migrations (
                name       text PRIMARY KEY,
                applied_at timestamptz NOT NULL DEFAULT now())
            """, cancellationToken).ConfigureAwait(false);

        var applied = new HashSet<string>(StringComparer.Ordinal);
        await using (var command = new NpgsqlCommand("SELECT name FROM dispatcher_schema_migrations", connection))
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
        {
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                applied.Add(reader.GetString(0));
            }
        }

        var assembly = typeof(PostgresMigrator).Assembly;
        var done = new List<string>();
        foreach (var resource in assembly.GetManifestResourceNames().Where(n => n.EndsWith(".sql", StringComparison.Ordinal)).Order(StringComparer.Ordinal))
        {
            var name = resource[(resource.IndexOf(".Sql.", StringComparison.Ordinal) + 5)..];
            if (applied.Contains(name))
            {
                continue;
            }

            await ExecuteAsync(connection, await ReadAsync(assembly, resource).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
            await ExecuteAsync(connection, "INSERT INTO dispatcher_schema_migrations (name) VALUES (@name)", cancellationToken, ("name", name)).ConfigureAwait(false);
            done.Add(name);
        }

        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        return done;
    }

    private static async Task<string> ReadAsync(Assembly assembly, string resource)
    {
        await using var stream = assembly.GetManifestResourceStream(resource)!;
        using var reader = new StreamReader(stream);
        return await reader.ReadToEndAsync().ConfigureAwait(false);
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken, params (string Name, object Value)[] parameters)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }

        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }
}
