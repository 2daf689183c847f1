using System.Diagnostics;
using System.Globalization;
using Dispatcher.Silo;
using Dispatcher.Testing;
using Dispatcher.Grains.Abstractions.Leases;
using Dispatcher.Grains.Abstractions.Models;
using Dispatcher.Grains.Abstractions.Tokens;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Dispatcher.Benchmarks;

/// <summary>
/// Managed memory held per waiting request on the real model grain in a co-hosted Orleans silo: the waiter, its
/// completion source, the caller's cancellation registration, the grain call (Orleans' message and callback on both
/// sides) and the wait-list entry. Then every waiter leaves at once, as the Frontend ends a wait whose client went away
/// (<see cref="IModelGrain.AbandonAsync"/>), and the time until the grain answers again is measured.
/// </summary>
internal static class MemoryPerWaiter
{
    public static async Task<string> MeasureAsync(int[] counts)
    {
        var lines = new List<string> { "| waiting requests | managed heap held | per waiting request | all leave at once: done in |", "| ---: | ---: | ---: | ---: |" };
        foreach (var count in counts)
        {
            var (bytes, perRequest, leaving) = await MeasureOnceAsync(count);
            lines.Add(string.Create(CultureInfo.InvariantCulture, $"| {count:N0} | {bytes / 1024.0 / 1024.0:0.0} MiB | {perRequest:0} B | {leaving.TotalSeconds:0.00} s |"));
        }

        return string.Join(Environment.NewLine, lines) + Environment.NewLine;
    }

    private static async Task<(long Bytes, double PerRequest, TimeSpan Leaving)> MeasureOnceAsync(int count)
    {
        const string secret = "bench-token";
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Dispatcher:Models:0:Name"] = "m",
            ["Dispatcher:Models:0:Backends:0"] = "http://10.0.0.1:8000",
            ["Dispatcher:Models:0:MaxConcurrentLeasesPerBackend"] = "1",
            ["Dispatcher:Tokens:0:Name"] = "bench",
            ["Dispatcher:Tokens:0:Token"] = secret,
            ["Dispatcher:Tokens:0:Priority"] = "5",
            ["Dispatcher:Tokens:0:Threshold"] = (count + 1).ToString(CultureInfo.InvariantCulture),
            ["Dispatcher:QueueTimeout"] = "00:20:00",
            ["Dispatcher:Capacity:UseMetrics"] = "false",
            ["Dispatcher:Cluster:SiloPort"] = FreePort.Next().ToString(CultureInfo.InvariantCulture),
            ["Dispatcher:Cluster:GatewayPort"] = FreePort.Next().ToString(CultureInfo.InvariantCulture),
        });
        builder.AddDispatcherSilo(joinCluster: false);
        using var silo = builder.Build();
        await silo.StartAsync();
        var model = silo.Services.GetRequiredService<IGrainFactory>().GetGrain<IModelGrain>("m");
        var tokenId = TokenHash.Compute(secret);
        var holder = await model.AcquireAsync(new LeaseRequest("holder", tokenId, 5), CancellationToken.None);

        var before = Heap();
        var pending = new Task<LeaseGrant>[count];
        for (var i = 0; i < count; i++)
        {
            pending[i] = model.AcquireAsync(new LeaseRequest(i.ToString(CultureInfo.InvariantCulture), tokenId, 5), CancellationToken.None);
        }

        while ((await model.GetSnapshotAsync(CancellationToken.None)).Waiting < count)
        {
            await Task.Delay(10);
        }

        var after = Heap();
        var leaving = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, count).Select(i => model.AbandonAsync(i.ToString(CultureInfo.InvariantCulture), CancellationToken.None)));
        foreach (var task in pending)
        {
            try
            {
                await task;
            }
            catch (OperationCanceledException)
            {
            }
        }

        await model.ReleaseAsync(new LeaseRelease(holder.LeaseId!, LeaseEndReason.Completed, 200, null), CancellationToken.None);
        leaving.Stop();
        await silo.StopAsync();
        // The request array itself is the caller's, not the dispatcher's.
        var held = after - before - (count * IntPtr.Size);
        return (held, held / (double)count, leaving.Elapsed);
    }

    private static long Heap()
    {
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        return GC.GetTotalMemory(forceFullCollection: true);
    }
}
