using Dispatcher.Grains.Abstractions;

namespace Dispatcher.Grains.Runtime;

/// <summary>What the host gives one grain activation.</summary>
public interface IGrainContext
{
    /// <summary>The activation's key.</summary>
    string Key { get; }

    /// <summary>References to other grains (and to this one).</summary>
    IGrainFactory GrainFactory { get; }

    /// <summary>
    /// Starts a timer whose ticks run as turns of this activation. Ticks never overlap: one due while the previous
    /// runs follows right after it. Use <see cref="Timeout.InfiniteTimeSpan"/> as <paramref name="period"/> for one shot
    /// and <see cref="Timeout.InfiniteTimeSpan"/> as <paramref name="dueTime"/> to create it stopped.
    /// Timers stop when the activation is deactivated. Ticks do not keep an idle grain alive.
    /// </summary>
    IGrainTimer RegisterTimer(Func<CancellationToken, Task> callback, TimeSpan dueTime, TimeSpan period);
}
