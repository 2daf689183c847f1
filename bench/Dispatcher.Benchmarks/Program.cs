using BenchmarkDotNet.Running;
using Dispatcher.Benchmarks;

// sim: the scheduling scenarios; memory: bytes per waiting request; soak [seconds]: the soak run; failover [kills];
// anything else goes to BenchmarkDotNet.
switch (args.FirstOrDefault())
{
    case "sim":
        Console.Write(SimulationReport.Write());
        break;
    case "soak":
        Console.Write(await Soak.RunAsync(TimeSpan.FromSeconds(args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 60)));
        break;
    case "overhead":
        Console.Write(await Overhead.RunAsync(TimeSpan.FromSeconds(args.Length > 1 ? double.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 8), [1, 16, 64]));
        break;
    case "waiting-memory":
        // waiting-memory [embedded|cluster] [counts...]: both layouts unless one is named.
        var layouts = args.Skip(1).Where(a => a is "embedded" or "cluster").ToArray();
        Console.Write(await WaitingMemory.RunAsync(
            [.. args.Skip(1).Except(layouts).DefaultIfEmpty("10000").Select(a => int.Parse(a, System.Globalization.CultureInfo.InvariantCulture))],
            layouts.Length == 0 ? [false, true] : [.. layouts.Select(l => l == "cluster")]));
        break;
    case "quality":
        Console.Write(await Quality.RunAsync(TimeSpan.FromSeconds(args.Length > 1 ? double.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 30)));
        break;
    case "failover":
        Console.Write(await Failover.RunAsync(args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 5));
        break;
    case "profile-processor":
        Console.Write(RequestProfile.ProcessorByStage(args[1])); // bench/profile.sh
        break;
    case "profile-allocations":
        Console.Write(RequestProfile.AllocationsByStage(args[1]));
        break;
    case "bare-proxy":
        await BareProxy.RunAsync(args[1], args[2..]); // started by the overhead benchmark
        break;
    case "memory":
        Console.Write(await MemoryPerWaiter.MeasureAsync([10_000, 100_000]));
        break;
    default:
        BenchmarkSwitcher.FromAssembly(typeof(WaitListBenchmarks).Assembly).Run(args);
        break;
}
