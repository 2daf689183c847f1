using Dispatcher.Grains.Abstractions.Configuration;
using Dispatcher.Grains.Abstractions.Tokens;
using Dispatcher.Grains.Tokens;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Dispatcher.Silo.Tokens;

/// <summary>
/// Tokens in PostgreSQL (<c>dispatcher_tokens</c>), looked up by the hash of their secret, so nothing compares
/// secrets and nothing stores them. All I/O is asynchronous. After a failed lookup the database is not asked
/// again for <c>RetryAfterFailure</c>, so an outage answers at once instead of piling up connection attempts.
/// Thread-safe.
/// </summary>
internal sealed partial class PostgresTokenStore(NpgsqlDataSource dataSource, IOptions<DispatcherOptions> options, TimeProvider time, ILogger<PostgresTokenStore> logger) : ITokenStore
{
    private long _failedAtTicks; // 0001-01-01: no failure yet

    public async Task<TokenLookup> FindAsync(string tokenId, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow().UtcTicks;
        if (now - Interlocked.Read(ref _failedAtTicks) < options.Value.TokenStore.RetryAfterFailure.Ticks)
        {
            return TokenLookup.StoreUnavailable;
        }

        try
        {
            await using var command = dataSource.CreateCommand(
                "SELECT name, priority, threshold, max_in_flight FROM dispatcher_tokens WHERE token_sha256 = @id AND revoked_at IS NULL");
            command.Parameters.AddWithValue("id", tokenId);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                return TokenLookup.Unknown;
            }

            return TokenLookup.Found(new TokenPolicy(reader.GetString(0), reader.GetInt32(1), reader.GetInt32(2),
                reader.IsDBNull(3) ? null : reader.GetInt32(3)));
        }
        catch (Exception exception) when (exception is NpgsqlException or TimeoutException or InvalidOperationException && !cancellationToken.IsCancellationRequested)
        {
            Interlocked.Exchange(ref _failedAtTicks, now);
            Log.LookupFailed(logger, exception.Message);
            return TokenLookup.StoreUnavailable;
        }
    }

    private static partial class Log
    {
        [LoggerMessage(SiloEventIds.TokenLookupFailed, LogLevel.Warning, "Token store unreachable: {Reason}")]
        public static partial void LookupFailed(ILogger logger, string reason);
    }
}
