using Dispatcher.Grains.Abstractions;
using Dispatcher.Grains.Runtime;

namespace Dispatcher.Silo.Tests.Activation;

public interface ICounterGrain : IGrainWithStringKey
{
    Task<int> IncrementAsync(CancellationToken cancellationToken);

    Task<int> GetAsync(CancellationToken cancellationToken);

    Task HoldAsync(Task release, CancellationToken cancellationToken);

    Task StartTimerAsync(TimeSpan period, CancellationToken cancellationToken);

    Task<int> GetTicksAsync(CancellationToken cancellationToken);

    Task StopTimerAsync(CancellationToken cancellationToken);

    Task<string> GetKeyAsync(CancellationToken cancellationToken);
}

public interface IBrokenGrain : IGrainWithStringKey
{
    Task<int> GetAsync(CancellationToken cancellationToken);
}

/// <summary>Counts activations and deactivations across all instances, for the tests to inspect.</summary>
public sealed class Lifecycle
{
    private int _activations;
    private int _deactivations;

    public int Activations => Volatile.Read(ref _activations);

    public int Deactivations => Volatile.Read(ref _deactivations);

    public bool KeepAlive { get; set; }

    public int BrokenAttempts { get; set; }

    public void Activated() => Interlocked.Increment(ref _activations);

    public void Deactivated() => Interlocked.Increment(ref _deactivations);
}

internal sealed class CounterGrain(IGrainContext context, Lifecycle lifecycle) : Grain(context), ICounterGrain
{
    private int _count;
    private int _ticks;
    private IGrainTimer? _timer;

    public override bool CanDeactivate => !lifecycle.KeepAlive;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        lifecycle.Activated();
        return Task.CompletedTask;
    }

    public override Task OnDeactivateAsync(CancellationToken cancellationToken)
    {
        lifecycle.Deactivated();
        return Task.CompletedTask;
    }

    public Task<int> IncrementAsync(CancellationToken cancellationToken)
    {
        // A deliberately racy read-modify-write: only one-turn-at-a-time execution keeps it exact.
        var value = _count;
        Thread.SpinWait(2_000);
        _count = value + 1;
        return Task.FromResult(_count);
    }

    public Task<int> GetAsync(CancellationToken cancellationToken) => Task.FromResult(_count);

    public async Task HoldAsync(Task release, CancellationToken cancellationToken) => await release;

    public Task StartTimerAsync(TimeSpan period, CancellationToken cancellationToken)
    {
        _timer = Context.RegisterTimer(_ =>
        {
            _ticks++;
            return Task.CompletedTask;
        }, period, period);
        return Task.CompletedTask;
    }

    public Task<int> GetTicksAsync(CancellationToken cancellationToken) => Task.FromResult(_ticks);

    public Task StopTimerAsync(CancellationToken cancellationToken)
    {
        _timer?.Dispose();
        return Task.CompletedTask;
    }

    public Task<string> GetKeyAsync(CancellationToken cancellationToken) => Task.FromResult(Key);
}

internal sealed class BrokenGrain(IGrainContext context, Lifecycle lifecycle) : Grain(context), IBrokenGrain
{
    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        lifecycle.BrokenAttempts++;
        return lifecycle.BrokenAttempts == 1
            ? throw new InvalidOperationException("first activation fails")
            : Task.CompletedTask;
    }

    public Task<int> GetAsync(CancellationToken cancellationToken) => Task.FromResult(lifecycle.BrokenAttempts);
}
