using System.Globalization;
using Dispatcher.Grains;
using Dispatcher.Grains.Abstractions;
using Dispatcher.Grains.Abstractions.Configuration;
using Dispatcher.Grains.Abstractions.Leases;
using Dispatcher.Grains.Abstractions.Models;
using Dispatcher.Grains.Abstractions.Tokens;
using Dispatcher.Grains.Backends;
using Dispatcher.Silo.Activation;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Dispatcher.Benchmarks;

/// <summary>
/// Managed memory held per waiting request on the real model grain in the in-process silo: the waiter, its
/// completion source, the caller's cancellation registration, the grain call and the wait-list entry.
/// </summary>
internal static class MemoryPerWaiter
{
    public static async Task<string> MeasureAsync(int[] counts)
    {
        var lines = new List<string> { "| waiting requests | managed heap held | per waiting request |", "| ---: | ---: | ---: |" };
        foreach (var count in counts)
        {
            var (bytes, perRequest) = await MeasureOnceAsync(count);
            lines.Add(string.Create(CultureInfo.InvariantCulture, $"| {count:N0} | {bytes / 1024.0 / 1024.0:0.0} MiB | {perRequest:0} B |"));
        }

        return string.Join(Environment.NewLine, lines) + Environment.NewLine;
    }

    private static async Task<(long Bytes, double PerRequest)> MeasureOnceAsync(int count)
    {
        const string secret = "bench-token";
        var options = new DispatcherOptions
        {
            Models = [new ModelOptions { Name = "m", Backends = ["http://10.0.0.1:8000"], MaxConcurrentLeasesPerBackend = 1 }],
            Tokens = [new TokenOptions { Name = "bench", Token = secret, Priority = 5, Threshold = count + 1 }],
            QueueTimeout = TimeSpan.FromHours(1),
            Capacity = { UseMetrics = false },
        };
        var services = new ServiceCollection().AddLogging().AddMetrics().AddSingleton(Options.Create(options)).AddDispatcherGrains().AddSingleton<IActivationGate, OpenActivationGate>().AddSingleton<LocalSilo>()
            .AddSingleton<IReplicaProbe, HttpReplicaProbe>()
            .AddSingleton<IGrainFactory>(sp => sp.GetRequiredService<LocalSilo>()).BuildServiceProvider();
        await using var _ = services;
        var silo = services.GetRequiredService<LocalSilo>();
        var model = silo.GetGrain<IModelGrain>("m");
        var tokenId = TokenHash.Compute(secret);
        var holder = await model.AcquireAsync(new LeaseRequest("holder", tokenId, 5), CancellationToken.None);

        using var cancel = new CancellationTokenSource();
        var before = Heap();
        var pending = new Task<LeaseGrant>[count];
        for (var i = 0; i < count; i++)
        {
            pending[i] = model.AcquireAsync(new LeaseRequest(i.ToString(CultureInfo.InvariantCulture), tokenId, 5), cancel.Token);
        }

        while ((await model.GetSnapshotAsync(CancellationToken.None)).Waiting < count)
        {
            await Task.Delay(10);
        }

        var after = Heap();
        await cancel.CancelAsync();
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
        await silo.DisposeAsync();
        // The request array itself is the caller's, not the dispatcher's.
        var held = after - before - (count * IntPtr.Size);
        return (held, held / (double)count);
    }

    private static long Heap()
    {
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        return GC.GetTotalMemory(forceFullCollection: true);
    }
}
