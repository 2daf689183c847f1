using Dispatcher.Grains.Runtime;
using Dispatcher.Silo.Activation;
using Dispatcher.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Dispatcher.Silo.Tests.Activation;

public sealed class LocalSiloTests : IAsyncLifetime
{
    private static readonly TimeSpan Idle = TimeSpan.FromMinutes(10);
    private readonly FakeTimeProvider _time = new();
    private readonly Lifecycle _lifecycle = new();
    private ServiceProvider _services = null!;
    private LocalSilo _silo = null!;

    public Task InitializeAsync()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton<TimeProvider>(_time);
        services.AddSingleton(_lifecycle);
        services.AddSingleton(new GrainRegistration(typeof(ICounterGrain), typeof(CounterGrain)));
        services.AddSingleton(new GrainRegistration(typeof(IBrokenGrain), typeof(BrokenGrain)));
        services.AddSingleton<IActivationGate, OpenActivationGate>();
        services.AddSingleton<LocalSilo>();
        _services = services.BuildServiceProvider();
        _silo = _services.GetRequiredService<LocalSilo>();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _silo.DisposeAsync();
        await _services.DisposeAsync();
    }

    [Fact]
    public async Task GetGrain_SameKey_ReachesOneActivation()
    {
        await _silo.GetGrain<ICounterGrain>("a").IncrementAsync(CancellationToken.None);
        await _silo.GetGrain<ICounterGrain>("a").IncrementAsync(CancellationToken.None);
        await _silo.GetGrain<ICounterGrain>("b").IncrementAsync(CancellationToken.None);

        Assert.Equal(2, await _silo.GetGrain<ICounterGrain>("a").GetAsync(CancellationToken.None));
        Assert.Equal(1, await _silo.GetGrain<ICounterGrain>("b").GetAsync(CancellationToken.None));
        Assert.Equal("b", await _silo.GetGrain<ICounterGrain>("b").GetKeyAsync(CancellationToken.None));
        Assert.Equal(2, _lifecycle.Activations);
    }

    [Fact]
    public async Task Invoke_ManyConcurrentCallers_RunsOneTurnAtATime()
    {
        var grain = _silo.GetGrain<ICounterGrain>("racy");

        await Task.WhenAll(Enumerable.Range(0, 200).Select(_ => Task.Run(() => grain.IncrementAsync(CancellationToken.None))));

        Assert.Equal(200, await grain.GetAsync(CancellationToken.None));
        Assert.Equal(1, _lifecycle.Activations);
    }

    [Fact]
    public async Task Invoke_TurnAwaits_OtherCallsInterleave()
    {
        var grain = _silo.GetGrain<ICounterGrain>("held");
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var hold = grain.HoldAsync(release.Task, CancellationToken.None);

        Assert.Equal(1, await grain.IncrementAsync(CancellationToken.None).WaitAsync(Eventually.Limit));
        Assert.False(hold.IsCompleted);
        release.SetResult();
        await hold.WaitAsync(Eventually.Limit);
    }

    [Fact]
    public async Task CollectIdleAsync_IdleGrain_DeactivatesAndNextCallStartsFresh()
    {
        var grain = _silo.GetGrain<ICounterGrain>("idle");
        await grain.IncrementAsync(CancellationToken.None);

        _time.Advance(Idle - TimeSpan.FromSeconds(1));
        Assert.Equal(0, await _silo.CollectIdleAsync(Idle));
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(1, await _silo.CollectIdleAsync(Idle));

        Assert.Equal(1, _lifecycle.Deactivations);
        Assert.Equal(0, _silo.ActivationCount);
        Assert.Equal(0, await grain.GetAsync(CancellationToken.None));
        Assert.Equal(2, _lifecycle.Activations);
    }

    [Fact]
    public async Task CollectIdleAsync_GrainRefusesOrCallRunning_StaysActive()
    {
        var grain = _silo.GetGrain<ICounterGrain>("busy");
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var hold = grain.HoldAsync(release.Task, CancellationToken.None);
        _time.Advance(Idle * 2);
        Assert.Equal(0, await _silo.CollectIdleAsync(Idle));

        release.SetResult();
        await hold;
        _lifecycle.KeepAlive = true;
        _time.Advance(Idle * 2);
        Assert.Equal(0, await _silo.CollectIdleAsync(Idle));
        Assert.Equal(0, _lifecycle.Deactivations);
    }

    [Fact]
    public async Task RegisterTimer_FakeClockAdvances_TicksRunAsTurnsUntilStopped()
    {
        var grain = _silo.GetGrain<ICounterGrain>("timer");
        await grain.StartTimerAsync(TimeSpan.FromSeconds(1), CancellationToken.None);

        for (var i = 1; i <= 3; i++)
        {
            _time.Advance(TimeSpan.FromSeconds(1));
            var expected = i;
            await Eventually.TrueAsync(async () => await grain.GetTicksAsync(CancellationToken.None) == expected, () => $"tick {expected} did not run");
        }

        await grain.StopTimerAsync(CancellationToken.None);
        _time.Advance(TimeSpan.FromSeconds(5));
        Assert.Equal(3, await grain.GetTicksAsync(CancellationToken.None));
    }

    [Fact]
    public async Task Invoke_ActivationFails_CallFailsAndNextCallActivatesAgain()
    {
        var grain = _silo.GetGrain<IBrokenGrain>("x");

        await Assert.ThrowsAsync<InvalidOperationException>(() => grain.GetAsync(CancellationToken.None));
        await Eventually.TrueAsync(() => _silo.ActivationCount == 0, () => "failed activation stayed in the directory");

        Assert.Equal(2, await grain.GetAsync(CancellationToken.None));
    }

    [Fact]
    public void GetGrain_UnregisteredInterface_Throws()
    {
        Assert.Throws<InvalidOperationException>(() => _silo.GetGrain<Grains.Abstractions.Models.IModelGrain>("m"));
    }
}
