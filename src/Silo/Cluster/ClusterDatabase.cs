using Dispatcher.Silo.Remote;
using Npgsql;

namespace Dispatcher.Silo.Cluster;

/// <summary>
/// The cluster's SQL (tables in <c>Database/Sql/002_cluster.sql</c>). A silo is live when its row is fresh, its
/// status is <c>active</c> and its member advisory lock is held; a model is held when its advisory lock is. Locks
/// are read from <c>pg_locks</c>, where a bigint key shows as its high half in <c>classid</c> and its low half in
/// <c>objid</c>.
/// </summary>
internal static class ClusterDatabase
{
    /// <summary>The notification channel: silos announce joins, takeovers and handovers, so others act at once.</summary>
    public const string Channel = "dispatcher_cluster";

    public const string Active = "active";
    public const string Leaving = "leaving";
    public const string Dead = "dead";

    /// <summary>A row of <c>dispatcher_silos</c>, with what the database clock says of it.</summary>
    public sealed record Member(string SiloId, string Address, string Status, bool Fresh, bool Stable);

    /// <summary>The advisory locks held in this database, each with the backend (session) holding it.</summary>
    public static async Task<Dictionary<long, int>> ReadHeldLocksAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        const string sql = """
            SELECT classid, objid, pid FROM pg_locks
            WHERE locktype = 'advisory' AND granted AND objsubid = 1
              AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
            """;
        var held = new Dictionary<long, int>();
        await using var command = new NpgsqlCommand(sql, connection);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            held[(long)(((ulong)reader.GetFieldValue<uint>(0) << 32) | reader.GetFieldValue<uint>(1))] = reader.GetInt32(2);
        }

        return held;
    }

    /// <summary>Every row of <c>dispatcher_silos</c>.</summary>
    /// <param name="connection">An open connection.</param>
    /// <param name="memberTimeout">A heartbeat older than this is not fresh.</param>
    /// <param name="stableAfter">A member counts as stable once it has been one for this long.</param>
    /// <param name="cancellationToken">Cancels the query.</param>
    public static async Task<List<Member>> ReadMembersAsync(NpgsqlConnection connection, TimeSpan memberTimeout, TimeSpan stableAfter, CancellationToken cancellationToken)
    {
        const string sql = """
            SELECT silo_id, address, status, heartbeat_at > now() - @timeout, started_at <= now() - @stable
            FROM dispatcher_silos ORDER BY silo_id
            """;
        var members = new List<Member>();
        await using var command = new NpgsqlCommand(sql, connection);
        command.Parameters.AddWithValue("timeout", memberTimeout);
        command.Parameters.AddWithValue("stable", stableAfter);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            members.Add(new Member(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetBoolean(3), reader.GetBoolean(4)));
        }

        return members;
    }

    public static async Task<List<ModelOwner>> ReadDirectoryAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        var owners = new List<ModelOwner>();
        await using var command = new NpgsqlCommand("SELECT model, silo_id, address, epoch FROM dispatcher_directory ORDER BY model", connection);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            owners.Add(new ModelOwner(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetInt64(3)));
        }

        return owners;
    }

    public static bool IsLive(Member member, Dictionary<long, int> held) =>
        member.Status == Active && member.Fresh && held.ContainsKey(ClusterKeys.SiloLock(member.SiloId));

    /// <summary>What frontends are told: live silos, and the models whose directory owner is live and holds them.</summary>
    public static async Task<ClusterView> ReadViewAsync(NpgsqlDataSource dataSource, TimeSpan memberTimeout, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        var held = await ReadHeldLocksAsync(connection, cancellationToken).ConfigureAwait(false);
        var members = await ReadMembersAsync(connection, memberTimeout, TimeSpan.Zero, cancellationToken).ConfigureAwait(false);
        var directory = await ReadDirectoryAsync(connection, cancellationToken).ConfigureAwait(false);
        var live = members.Where(m => IsLive(m, held)).ToDictionary(m => m.SiloId, StringComparer.Ordinal);
        return new ClusterView(
            [.. live.Values.Select(m => new SiloMember(m.SiloId, m.Address))],
            [.. directory.Where(d => live.ContainsKey(d.SiloId) && held.ContainsKey(ClusterKeys.ModelLock(d.Model)))]);
    }

    /// <summary>
    /// Who hosted <paramref name="model"/> before (another silo, per the directory) and how long until that silo's last
    /// heartbeat is <paramref name="ownershipTimeout"/> old, by the database's clock; zero when there is no such silo.
    /// </summary>
    public static async Task<(SiloMember? Previous, TimeSpan Wait)> ReadFenceAsync(NpgsqlConnection connection, string model, string siloId, TimeSpan ownershipTimeout, CancellationToken cancellationToken)
    {
        await using var command = Command(connection, """
            SELECT s.silo_id, s.address, GREATEST(0, EXTRACT(EPOCH FROM (s.heartbeat_at + @timeout - now())))::float8
            FROM dispatcher_directory d JOIN dispatcher_silos s ON s.silo_id = d.silo_id
            WHERE d.model = @model AND d.silo_id <> @id
            """, [("timeout", ownershipTimeout), ("model", model), ("id", siloId)]);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        return await reader.ReadAsync(cancellationToken).ConfigureAwait(false)
            ? (new SiloMember(reader.GetString(0), reader.GetString(1)), TimeSpan.FromSeconds(reader.GetDouble(2)))
            : (null, TimeSpan.Zero);
    }

    /// <summary>
    /// True when a connection to <paramref name="address"/> is refused: no process listens there, so the silo that did
    /// is dead. False when it connects or cannot tell (a timeout: a lost host or network says nothing about the process).
    /// </summary>
    public static async Task<bool> NothingListensAtAsync(string address)
    {
        if (!Uri.TryCreate(address, UriKind.Absolute, out var uri))
        {
            return false;
        }

        using var socket = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        using var timeout = new CancellationTokenSource(TimeSpan.FromMilliseconds(500));
        try
        {
            await socket.ConnectAsync(uri.Host, uri.Port, timeout.Token).ConfigureAwait(false);
            return false;
        }
        catch (System.Net.Sockets.SocketException exception)
        {
            return exception.SocketErrorCode == System.Net.Sockets.SocketError.ConnectionRefused;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    public static async Task<int> ExecuteAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken, params (string Name, object Value)[] parameters)
    {
        await using var command = Command(connection, sql, parameters);
        return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    public static async Task<T> ScalarAsync<T>(NpgsqlConnection connection, string sql, CancellationToken cancellationToken, params (string Name, object Value)[] parameters)
    {
        await using var command = Command(connection, sql, parameters);
        return (T)(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
    }

    private static NpgsqlCommand Command(NpgsqlConnection connection, string sql, (string Name, object Value)[] parameters)
    {
        var command = new NpgsqlCommand(sql, connection);
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }

        return command;
    }
}
