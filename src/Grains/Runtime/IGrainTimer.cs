namespace Dispatcher.Grains.Runtime;

/// <summary>A grain timer. Disposing stops it.</summary>
public interface IGrainTimer : IDisposable
{
    /// <summary>Re-arms the timer; <see cref="Timeout.InfiniteTimeSpan"/> as due time stops it.</summary>
    void Change(TimeSpan dueTime, TimeSpan period);
}
