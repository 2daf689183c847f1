using BenchmarkDotNet.Attributes;
using Dispatcher.Grains.Abstractions.Configuration;
using Dispatcher.Grains.Abstractions.Leases;
using Dispatcher.Grains.Scheduling;

namespace Dispatcher.Benchmarks;

/// <summary>
/// One scheduling decision in steady state: serve the head of a wait list of <see cref="Waiters"/> requests
/// spread over 100 tokens of weights 1 to 10, end its lease, and queue that token's next request.
/// </summary>
[MemoryDiagnoser]
public class WaitListBenchmarks
{
    private WaitList _list = null!;

    [Params(10, 1_000, 100_000)]
    public int Waiters { get; set; }

    [Params(SchedulingPolicy.Fair, SchedulingPolicy.Strict)]
    public SchedulingPolicy Policy { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _list = new WaitList(ServiceOrder.Create(new SchedulingOptions { Policy = Policy }, TimeProvider.System));
        for (var i = 0; i < Waiters; i++)
        {
            var token = $"token-{i % 100}";
            _list.Add(new Waiter(new LeaseRequest($"r{i}", token, 1 + (i % 100 % 10)), i, i, DateTimeOffset.MaxValue));
        }
    }

    [Benchmark(Description = "grant + release + requeue")]
    public long GrantReleaseRequeue()
    {
        _list.TryPeekNext(out var waiter);
        _list.Grant(waiter);
        var request = waiter.Request;
        _list.Released(request.TokenId, request.Priority, waiter.Cost, null);
        waiter.IsWaiting = true; // the same object stands for the token's next request: no allocation per decision
        _list.Add(waiter);
        return waiter.Key;
    }
}
