using Dispatcher.Grains.Abstractions;
using Dispatcher.Grains.Abstractions.Tokens;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Dispatcher.Silo.Tokens;

/// <summary>
/// Listens on PostgreSQL channel <c>dispatcher_tokens</c> and drops the cached policy of every token announced
/// there (added, changed, revoked), so a change reaches this silo within moments. Reconnects with backoff when
/// the database goes away; notifications missed meanwhile are covered by the cache's TTL.
/// </summary>
internal sealed partial class TokenChangeListener(NpgsqlDataSource dataSource, IGrainFactory grains, TimeProvider time, ILogger<TokenChangeListener> logger) : BackgroundService
{
    public const string Channel = "dispatcher_tokens";

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var backoff = TimeSpan.FromMilliseconds(200);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await using var connection = await dataSource.OpenConnectionAsync(stoppingToken).ConfigureAwait(false);
                connection.Notification += (_, e) => _ = InvalidateAsync(e.Payload);
                await using (var listen = new NpgsqlCommand($"LISTEN {Channel}", connection))
                {
                    await listen.ExecuteNonQueryAsync(stoppingToken).ConfigureAwait(false);
                }

                Log.Listening(logger);
                backoff = TimeSpan.FromMilliseconds(200);
                while (!stoppingToken.IsCancellationRequested)
                {
                    await connection.WaitAsync(stoppingToken).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception exception) when (exception is NpgsqlException or TimeoutException or IOException or InvalidOperationException)
            {
                Log.Lost(logger, exception.Message, backoff.TotalMilliseconds);
                await Task.Delay(backoff, time, stoppingToken).ConfigureAwait(false);
                backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, TimeSpan.FromSeconds(10).Ticks));
            }
        }
    }

    private async Task InvalidateAsync(string tokenId)
    {
        if (TokenHash.IsTokenId(tokenId))
        {
            await grains.GetGrainByKey<ITokenGrain>(tokenId).InvalidateAsync(CancellationToken.None).ConfigureAwait(false);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(SiloEventIds.TokenListenerListening, LogLevel.Information, "Listening for token changes")]
        public static partial void Listening(ILogger logger);

        [LoggerMessage(SiloEventIds.TokenListenerLost, LogLevel.Warning, "Token change notifications lost ({Reason}); reconnecting in {DelayMs} ms")]
        public static partial void Lost(ILogger logger, string reason, double delayMs);
    }
}
