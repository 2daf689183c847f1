using Dispatcher.Grains.Abstractions.Configuration;
using Dispatcher.Grains.Abstractions.Leases;
using Dispatcher.Testing;

namespace Dispatcher.Grains.Tests.Models;

/// <summary>
/// Random interleavings of arrivals, grants, releases, timeouts and cancellations (fixed seeds): whatever
/// happens, the model never grants beyond capacity and every counter returns to zero at the end.
/// </summary>
public sealed class ModelGrainInterleavingTests
{
    [Theory]
    [InlineData(SchedulingPolicy.Fair, 1)]
    [InlineData(SchedulingPolicy.Fair, 2)]
    [InlineData(SchedulingPolicy.Strict, 3)]
    [InlineData(SchedulingPolicy.Fair, 4)]
    public async Task RandomOperations_AnyInterleaving_NoLeakAndNoOvershoot(SchedulingPolicy policy, int seed)
    {
        await using var host = await GrainTestHost.StartAsync(backends: 2, capacity: 2, configure: o =>
        {
            o.Scheduling.Policy = policy;
            o.QueueTimeout = TimeSpan.FromSeconds(5);
            o.Tokens.ForEach(t => t.Threshold = 4);
        });
        var random = new Random(seed);
        string[] tokens = ["high", "mid", "low", "capped"];
        var waiting = new List<(Task<LeaseGrant> Task, CancellationTokenSource Cancel, string RequestId)>();
        var granted = new List<LeaseGrant>();
        var outcomes = new Dictionary<string, int>();

        for (var step = 0; step < 400; step++)
        {
            switch (random.Next(10))
            {
                case < 4:
                    var cancel = new CancellationTokenSource();
                    var request = host.Request(tokens[random.Next(tokens.Length)]);
                    waiting.Add((host.ModelGrain.AcquireAsync(request, cancel.Token), cancel, request.RequestId));
                    break;
                case < 7 when granted.Count > 0:
                    var index = random.Next(granted.Count);
                    var reason = (LeaseEndReason)random.Next(3);
                    await host.ModelGrain.ReleaseAsync(new LeaseRelease(granted[index].LeaseId!, reason, 200, new LeaseUsage(5, random.Next(1, 50))), CancellationToken.None);
                    granted.RemoveAt(index);
                    break;
                case 7 when waiting.Count > 0:
                    // As the Frontend does when its client leaves: cancel the call, then say so.
                    var (_, toCancel, requestId) = waiting[random.Next(waiting.Count)];
                    await toCancel.CancelAsync();
                    await host.ModelGrain.AbandonAsync(requestId, CancellationToken.None);
                    break;
                case 8:
                    host.Time.Advance(TimeSpan.FromSeconds(random.Next(1, 4)));
                    break;
                default:
                    await Task.Yield();
                    break;
            }

            await CollectAsync(waiting, granted, outcomes);
            var snapshot = await host.SnapshotAsync();
            Assert.True(snapshot.InFlight <= 4, $"seed {seed} step {step}: {snapshot.InFlight} leases on capacity 4");
            Assert.All(snapshot.Backends, b => Assert.InRange(b.LeasesInFlight, 0, 2));
        }

        // Wind down: cancel every waiter, release every lease, and let timers run out.
        foreach (var (_, cancel, requestId) in waiting)
        {
            await cancel.CancelAsync();
            await host.ModelGrain.AbandonAsync(requestId, CancellationToken.None);
        }

        await Eventually.TrueAsync(async () =>
        {
            await CollectAsync(waiting, granted, outcomes);
            return waiting.Count == 0;
        }, () => $"seed {seed}: {waiting.Count} requests never ended");
        foreach (var grant in granted)
        {
            await host.ReleaseAsync(grant);
        }

        host.Time.Advance(TimeSpan.FromMinutes(1));
        await host.AssertNothingHeldAsync();
        Assert.True(outcomes.GetValueOrDefault("Granted") > 20, $"seed {seed}: too few grants to mean anything: {string.Join(", ", outcomes)}");
    }

    private static async Task CollectAsync(List<(Task<LeaseGrant> Task, CancellationTokenSource Cancel, string RequestId)> waiting, List<LeaseGrant> granted, Dictionary<string, int> outcomes)
    {
        await Task.Delay(1);
        for (var i = waiting.Count - 1; i >= 0; i--)
        {
            var (task, cancel, _) = waiting[i];
            if (!task.IsCompleted)
            {
                continue;
            }

            waiting.RemoveAt(i);
            cancel.Dispose();
            var outcome = task.IsCanceled ? "Cancelled" : (await task).Outcome.ToString();
            outcomes[outcome] = outcomes.GetValueOrDefault(outcome) + 1;
            if (!task.IsCanceled && task.Result.Outcome == LeaseOutcome.Granted)
            {
                granted.Add(task.Result);
            }
        }
    }
}
