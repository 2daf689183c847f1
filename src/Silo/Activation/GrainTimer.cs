using Dispatcher.Grains.Runtime;

namespace Dispatcher.Silo.Activation;

/// <summary>
/// A timer whose ticks run as turns of one activation. Ticks never overlap: one that falls due while the
/// previous runs is coalesced and runs right after it, so a re-armed one-shot timer is never lost.
/// </summary>
internal sealed class GrainTimer : IGrainTimer
{
    private readonly GrainActivation _activation;
    private readonly Func<CancellationToken, Task> _callback;
    private readonly ITimer _timer;
    private int _state; // 0 idle, 1 running, more: running with another tick due

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
        if (Interlocked.Increment(ref _state) == 1)
        {
            _ = RunTicksAsync();
        }
    }

    private async Task RunTicksAsync()
    {
        do
        {
            Volatile.Write(ref _state, 1);
            await _activation.RunTimerTurnAsync(_callback).ConfigureAwait(false);
        }
        while (Interlocked.CompareExchange(ref _state, 0, 1) != 1);
    }
}
