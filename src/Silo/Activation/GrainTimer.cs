using Dispatcher.Grains.Runtime;

namespace Dispatcher.Silo.Activation;

/// <summary>A timer whose ticks run as turns of one activation; a tick is skipped while the last one runs.</summary>
internal sealed class GrainTimer : IGrainTimer
{
    private readonly GrainActivation _activation;
    private readonly Func<CancellationToken, Task> _callback;
    private readonly ITimer _timer;
    private int _ticking;

    public GrainTimer(GrainActivation activation, TimeProvider time, Func<CancellationToken, Task> callback, TimeSpan dueTime, TimeSpan period)
    {
        _activation = activation;
        _callback = callback;
        _timer = time.CreateTimer(static state => ((GrainTimer)state!).Tick(), this, dueTime, period);
    }

    public void Change(TimeSpan dueTime, TimeSpan period) => _timer.Change(dueTime, period);

    public void Dispose()
    {
        _timer.Dispose();
        _activation.RemoveTimer(this);
    }

    private void Tick()
    {
        if (Interlocked.Exchange(ref _ticking, 1) == 1)
        {
            return;
        }

        _ = RunTickAsync();
    }

    private async Task RunTickAsync()
    {
        try
        {
            await _activation.RunTimerTurnAsync(_callback);
        }
        finally
        {
            Volatile.Write(ref _ticking, 0);
        }
    }
}
