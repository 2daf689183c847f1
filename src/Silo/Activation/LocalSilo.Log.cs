using Microsoft.Extensions.Logging;

namespace Dispatcher.Silo.Activation;

internal sealed partial class LocalSilo
{
    internal static partial class Log
    {
        [LoggerMessage(SiloEventIds.Activated, LogLevel.Debug, "Activated {Grain}/{Key}")]
        public static partial void Activated(ILogger logger, string grain, string key);

        [LoggerMessage(SiloEventIds.Deactivated, LogLevel.Debug, "Deactivated {Grain}/{Key}")]
        public static partial void Deactivated(ILogger logger, string grain, string key);

        [LoggerMessage(SiloEventIds.ActivationFailed, LogLevel.Error, "Activation of {Grain}/{Key} failed")]
        public static partial void ActivationFailed(ILogger logger, Exception exception, string grain, string key);

        [LoggerMessage(SiloEventIds.TimerFailed, LogLevel.Error, "A timer of {Grain}/{Key} failed")]
        public static partial void TimerFailed(ILogger logger, Exception exception, string grain, string key);
    }
}
