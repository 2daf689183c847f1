using System.Globalization;
using System.Text;
using Dispatcher.Grains.Abstractions.Configuration;
using Dispatcher.Grains.Scheduling;

namespace Dispatcher.Benchmarks;

/// <summary>Runs the scheduling scenarios of the fair-scheduling issue and writes them as Markdown.</summary>
internal static class SimulationReport
{
    private const int Capacity = 16;
    private const double MeanService = 1.0;
    private const double Seconds = 3600;
    private const double QueueTimeout = 60;
    private const int Threshold = 10;
    private const int Seed = 42;

    private static readonly (string Name, Func<ServiceOrder> Create)[] Orders =
    [
        ("Fair (SFQ, default)", () => ServiceOrder.Create(new SchedulingOptions(), TimeProvider.System)),
        ("Strict + aging 5 s", () => ServiceOrder.Create(new SchedulingOptions { Policy = SchedulingPolicy.Strict }, TimeProvider.System)),
        ("FIFO (baseline)", () => new FifoOrder()),
    ];

    public static string Write()
    {
        var text = new StringBuilder();
        var inv = CultureInfo.InvariantCulture;
        text.AppendLine(inv, $"Setup: {Capacity} request slots (e.g. 2 replicas x 8), exponential service time with mean {MeanService} s, Poisson arrivals, {Seconds:0} simulated seconds, queue timeout {QueueTimeout} s, threshold {Threshold} waiting requests per token (more: 429), seed {Seed}. Waits are measured from arrival to grant; timed-out requests (503) are counted apart.");
        text.AppendLine();

        text.AppendLine("### (a) Priority isolation: one priority-10 token at 20% of capacity, alone, then with a priority-1 flood at 4x capacity from 1 or from 20 tokens");
        text.AppendLine();
        text.AppendLine("| order | flood tokens | p10 wait p50 | p10 wait p99 | p10 timed out | p1 granted | p1 timed out | p1 refused (429) |");
        text.AppendLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (var (name, create) in Orders)
        {
            foreach (var floodTokens in new[] { 0, 1, 20 })
            {
                var flood = floodTokens > 0;
                SchedulingSimulation.Load[] loads = flood
                    ? [new("vip", 10, 0.2 * Capacity / MeanService), new("flood", 1, 4.0 * Capacity / MeanService, Tokens: floodTokens)]
                    : [new("vip", 10, 0.2 * Capacity / MeanService)];
                var result = SchedulingSimulation.Run(create(), Capacity, MeanService, loads, Seconds, QueueTimeout, Threshold, Seed);
                var vip = result["vip"];
                var low = result.GetValueOrDefault("flood");
                text.AppendLine(inv, $"| {name} | {floodTokens} | {Ms(vip.Percentile(0.5))} | {Ms(vip.Percentile(0.99))} | {vip.TimedOut} | {low?.Granted.ToString(inv) ?? "-"} | {low?.TimedOut.ToString(inv) ?? "-"} | {low?.Rejected.ToString(inv) ?? "-"} |");
            }
        }

        text.AppendLine();
        text.AppendLine("### (b) Shares: three tokens of weights 1, 2 and 7, each arriving at 2x capacity");
        text.AppendLine();
        text.AppendLine("| order | weight 1 share | weight 2 share | weight 7 share | target |");
        text.AppendLine("| --- | ---: | ---: | ---: | --- |");
        foreach (var (name, create) in Orders)
        {
            SchedulingSimulation.Load[] loads = [new("w1", 1, 2.0 * Capacity), new("w2", 2, 2.0 * Capacity), new("w7", 7, 2.0 * Capacity)];
            var result = SchedulingSimulation.Run(create(), Capacity, MeanService, loads, Seconds, QueueTimeout, Threshold, Seed);
            double total = result.Values.Sum(r => r.Granted);
            text.AppendLine(inv, $"| {name} | {Share(result["w1"].Granted, total)} | {Share(result["w2"].Granted, total)} | {Share(result["w7"].Granted, total)} | 10% / 20% / 70% |");
        }

        return text.ToString();
    }

    private static string Ms(double seconds) => double.IsNaN(seconds) ? "-" : $"{seconds * 1000:0} ms";

    private static string Share(int granted, double total) => $"{granted / total:P1}";
}
