using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Dispatcher.Silo.Database;

/// <summary>
/// Applies the database migrations at start, retrying with backoff while the database cannot be reached
/// (lookups answer 503 until then), so a silo can start before its database.
/// </summary>
internal sealed partial class MigrationService(NpgsqlDataSource dataSource, TimeProvider time, ILogger<MigrationService> logger) : BackgroundService
{
    private readonly TaskCompletionSource _completed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes once the database schema is up to date.</summary>
    public Task Completed => _completed.Task;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var backoff = TimeSpan.FromMilliseconds(500);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var applied = await PostgresMigrator.MigrateAsync(dataSource, stoppingToken).ConfigureAwait(false);
                Log.Migrated(logger, applied.Count == 0 ? "none" : string.Join(", ", applied));
                _completed.TrySetResult();
                return;
            }
            catch (Exception exception) when (exception is NpgsqlException or TimeoutException or IOException && !stoppingToken.IsCancellationRequested)
            {
                Log.Waiting(logger, exception.Message, backoff.TotalMilliseconds);
                await Task.Delay(backoff, time, stoppingToken).ConfigureAwait(false);
                backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, TimeSpan.FromSeconds(10).Ticks));
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(SiloEventIds.Migrated, LogLevel.Information, "Database migrations applied: {Scripts}")]
        public static partial void Migrated(ILogger logger, string scripts);

        [LoggerMessage(SiloEventIds.MigrationWaiting, LogLevel.Warning, "Database not reachable for migrations ({Reason}); retrying in {DelayMs} ms")]
        public static partial void Waiting(ILogger logger, string reason, double delayMs);
    }
}
