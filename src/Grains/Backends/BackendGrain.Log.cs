using Microsoft.Extensions.Logging;

namespace Dispatcher.Grains.Backends;

internal sealed partial class BackendGrain
{
    private static partial class Log
    {
        [LoggerMessage(GrainsEventIds.ReplicaEjected, LogLevel.Warning, "Replica {Backend} ejected: {Reason}")]
        public static partial void Ejected(ILogger logger, string backend, string reason);

        [LoggerMessage(GrainsEventIds.ReplicaRestored, LogLevel.Information, "Replica {Backend} answers again and is back in service")]
        public static partial void Restored(ILogger logger, string backend);

        [LoggerMessage(GrainsEventIds.ScrapeFailed, LogLevel.Debug, "Scrape of {Backend} failed: {Reason}")]
        public static partial void ScrapeFailed(ILogger logger, string backend, string reason);

        [LoggerMessage(GrainsEventIds.NoVllmMetrics, LogLevel.Warning, "Replica {Backend} exposes no vLLM metrics (--disable-log-stats?); it is admitted at its cold-start limit only")]
        public static partial void NoVllmMetrics(ILogger logger, string backend);

        [LoggerMessage(GrainsEventIds.ReplicaRestarted, LogLevel.Information, "Replica {Backend} restarted (its counters went down); estimates start over")]
        public static partial void Restarted(ILogger logger, string backend);
    }
}
