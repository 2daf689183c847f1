using Dispatcher.Grains.Abstractions;
using Dispatcher.Grains.Runtime;

namespace Dispatcher.Silo.Activation;

/// <summary>
/// One activation of one grain. Every call, timer tick and lifecycle method runs as a turn on the
/// activation's exclusive scheduler, so at most one piece of the grain's code runs at a time; a turn that
/// awaits lets the next one in (like an Orleans reentrant grain), and its continuation queues behind it.
/// The counters below are shared with callers' threads and guarded by <see cref="_gate"/>.
/// </summary>
internal sealed class GrainActivation : IGrainContext
{
    private readonly ConcurrentExclusiveSchedulerPair _turns = new();
    private readonly Lock _gate = new();
    private readonly List<GrainTimer> _timers = [];
    private readonly LocalSilo _silo;
    private readonly TimeProvider _time;
    private Grain? _grain;
    private int _calls;
    private long _lastUsed;
    private bool _closing;

    public GrainActivation(LocalSilo silo, GrainId id, TimeProvider time)
    {
        _silo = silo;
        _time = time;
        Id = id;
        _lastUsed = time.GetTimestamp();
        Activated = Task.CompletedTask;
    }

    public GrainId Id { get; }

    public string Key => Id.Key;

    public IGrainFactory GrainFactory => _silo;

    /// <summary>Completes when the grain is created and its <see cref="Grain.OnActivateAsync"/> has run.</summary>
    public Task Activated { get; private set; }

    public void Activate(Func<IGrainContext, Grain> create) =>
        Activated = RunTurnAsync(() =>
        {
            _grain = create(this);
            return _grain.OnActivateAsync(CancellationToken.None);
        });

    /// <summary>Counts a call in, unless the activation is closing (the caller then asks for a new one).</summary>
    public bool TryEnter()
    {
        lock (_gate)
        {
            if (_closing)
            {
                return false;
            }

            _calls++;
            return true;
        }
    }

    /// <summary>Runs one call, entered with <see cref="TryEnter"/>, as a turn.</summary>
    public async Task<T> InvokeAsync<T>(Func<Grain, Task<T>> call)
    {
        try
        {
            await Activated.ConfigureAwait(false);
            return await RunTurnAsync(() => call(_grain!)).ConfigureAwait(false);
        }
        finally
        {
            lock (_gate)
            {
                _calls--;
                _lastUsed = _time.GetTimestamp();
            }
        }
    }

    /// <summary>Runs a timer tick as a turn; a failure is logged, never thrown at the timer thread.</summary>
    public async Task RunTimerTurnAsync(Func<CancellationToken, Task> callback)
    {
        lock (_gate)
        {
            if (_closing)
            {
                return;
            }
        }

        try
        {
            await RunTurnAsync(() => callback(CancellationToken.None)).ConfigureAwait(false);
        }
        catch (Exception exception)
        {
            _silo.ReportTimerFailure(Id, exception);
        }
    }

    public bool IsIdle(TimeSpan idleFor)
    {
        lock (_gate)
        {
            return !_closing && _calls == 0 && _time.GetElapsedTime(_lastUsed) >= idleFor;
        }
    }

    /// <summary>
    /// Deactivates the grain if no call is running and the grain agrees (or <paramref name="force"/>, at
    /// shutdown). Returns false when it stays active.
    /// </summary>
    public async Task<bool> TryDeactivateAsync(bool force)
    {
        var closing = await RunTurnAsync(() =>
        {
            lock (_gate)
            {
                if (_closing || (!force && (_calls > 0 || _grain is { CanDeactivate: false })))
                {
                    return Task.FromResult(false);
                }

                _closing = true;
                return Task.FromResult(true);
            }
        }).ConfigureAwait(false);
        if (!closing)
        {
            return false;
        }

        GrainTimer[] timers;
        lock (_gate)
        {
            timers = [.. _timers];
        }

        foreach (var timer in timers)
        {
            timer.Dispose();
        }

        if (_grain is not null)
        {
            await RunTurnAsync(() => _grain.OnDeactivateAsync(CancellationToken.None)).ConfigureAwait(false);
        }

        _turns.Complete();
        return true;
    }

    public IGrainTimer RegisterTimer(Func<CancellationToken, Task> callback, TimeSpan dueTime, TimeSpan period)
    {
        var timer = new GrainTimer(this, _time, callback, dueTime, period);
        lock (_gate)
        {
            _timers.Add(timer);
        }

        return timer;
    }

    internal void RemoveTimer(GrainTimer timer)
    {
        lock (_gate)
        {
            _timers.Remove(timer);
        }
    }

    private Task<T> RunTurnAsync<T>(Func<Task<T>> turn) =>
        Task.Factory.StartNew(turn, CancellationToken.None, TaskCreationOptions.DenyChildAttach, _turns.ExclusiveScheduler).Unwrap();

    private Task RunTurnAsync(Func<Task> turn) =>
        Task.Factory.StartNew(turn, CancellationToken.None, TaskCreationOptions.DenyChildAttach, _turns.ExclusiveScheduler).Unwrap();
}
