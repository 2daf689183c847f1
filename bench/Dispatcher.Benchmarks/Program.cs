using BenchmarkDotNet.Running;
using Dispatcher.Benchmarks;

// sim: the scheduling scenarios; memory: bytes per waiting request; anything else goes to BenchmarkDotNet.
switch (args.FirstOrDefault())
{
    case "sim":
        Console.Write(SimulationReport.Write());
        break;
    case "memory":
        Console.Write(await MemoryPerWaiter.MeasureAsync([10_000, 100_000]));
        break;
    default:
        BenchmarkSwitcher.FromAssembly(typeof(WaitListBenchmarks).Assembly).Run(args);
        break;
}
