using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Diagnostics.Tracing.Etlx;
using Microsoft.Diagnostics.Tracing.Parsers.Clr;

namespace Dispatcher.Benchmarks;

/// <summary>
/// Where a loaded dispatcher's processor time and allocations go, by stage of a request, from profiles that
/// <c>bench/profile.sh</c> takes: <c>perf record -g</c> samples (as <c>perf script</c> prints them; the runtime writes
/// its perf map) and an EventPipe trace with allocation ticks (<c>dotnet-trace collect --profile gc-verbose</c>). A sample
/// or allocation counts for the stage of the innermost frame that names one; what no stage names is the machinery.
/// </summary>
internal static class RequestProfile
{
    /// <summary>The stages, the most specific first: a frame matching several counts for the first.</summary>
    private static readonly (string Stage, Regex Frame)[] Stages =
    [
        ("usage metering", new Regex(@"Dispatcher\.Frontend\.Forwarding\.UsageMeter")),
        ("metrics", new Regex(@"Prometheus\.|MeterListener|System\.Diagnostics\.Metrics|PrometheusMetrics|FrontendMetrics|GrainsMetrics")),
        ("logging", new Regex(@"Microsoft\.Extensions\.Logging|RequestIdMiddleware")),
        ("auth (hash, policy cache, token grain call)", new Regex(@"BearerTokenFilter|TokenHash|TokenPolicyCache|FailedAuthLimiter")),
        ("body read and inspection", new Regex(@"BodyReader|BodyInspector|PriorityRewriter|Utf8JsonReader")),
        ("model grain (scheduling, leases)", new Regex(@"Dispatcher\.Grains\.Models|Dispatcher\.Grains\.Scheduling|Dispatcher\.Grains\.Capacity")),
        ("token grain", new Regex(@"Dispatcher\.Grains\.Tokens")),
        ("Orleans messaging and scheduling", new Regex(@"Orleans\.")),
        ("YARP forwarding and HttpClient", new Regex(@"Yarp\.|System\.Net\.Http\.")),
        ("lease calls and watchdog (Frontend)", new Regex(@"LeaseForwarder|LeaseRenewer|PendingWait|ResponseWatchdog|ClusterCall")),
        ("Kestrel and ASP.NET Core", new Regex(@"Microsoft\.AspNetCore\.")),
        ("sockets", new Regex(@"System\.Net\.Sockets")),
        ("thread pool, tasks and timers", new Regex(@"System\.Threading\.|System\.Runtime\.CompilerServices\.Async")),
    ];

    /// <summary>Processor samples by stage, from <c>perf script</c>'s output.</summary>
    public static string ProcessorByStage(string perfScript)
    {
        var counts = new Dictionary<string, long>();
        var frames = new List<string>();
        foreach (var line in File.ReadLines(perfScript).Append(""))
        {
            if (line.Length > 0 && char.IsWhiteSpace(line[0]))
            {
                frames.Add(line.Trim());
                continue;
            }

            if (line.Length == 0 && frames.Count > 0)
            {
                var stage = StageOf(frames) ?? frames[0] switch
                {
                    var leaf when leaf.Contains("kernel.kallsyms", StringComparison.Ordinal) => "kernel, outside any stage",
                    var leaf when leaf.Contains("libclrjit", StringComparison.Ordinal) => "JIT",
                    var leaf when leaf.Contains("libcoreclr", StringComparison.Ordinal) => "runtime (GC, waits), outside any stage",
                    _ => "other",
                };
                counts[stage] = counts.GetValueOrDefault(stage) + 1;
                frames.Clear();
            }
        }

        return Table("processor samples", counts);
    }

    /// <summary>Allocated bytes (sampled every 100 KB by the runtime) by stage and by type, from an EventPipe trace.</summary>
    public static string AllocationsByStage(string nettrace)
    {
        var byStage = new Dictionary<string, long>();
        var byType = new Dictionary<string, long>();
        using var log = new TraceLog(TraceLog.CreateFromEventPipeDataFile(nettrace));
        foreach (var traced in log.Events)
        {
            if (traced is not GCAllocationTickTraceData tick)
            {
                continue;
            }

            var frames = new List<string>();
            for (var frame = tick.CallStack(); frame is not null && frames.Count < 64; frame = frame.Caller)
            {
                frames.Add(frame.CodeAddress.FullMethodName);
            }

            var stage = StageOf(frames) ?? "outside any stage";
            byStage[stage] = byStage.GetValueOrDefault(stage) + tick.AllocationAmount64;
            var type = tick.TypeName ?? "?";
            byType[type] = byType.GetValueOrDefault(type) + tick.AllocationAmount64;
        }

        return Table("allocated bytes", byStage) + Environment.NewLine + Table("allocated bytes", byType, rows: 15);
    }

    private static string? StageOf(List<string> frames)
    {
        foreach (var frame in frames)
        {
            foreach (var (stage, pattern) in Stages)
            {
                if (pattern.IsMatch(frame))
                {
                    return stage;
                }
            }
        }

        return null;
    }

    private static string Table(string what, Dictionary<string, long> counts, int rows = int.MaxValue)
    {
        var total = Math.Max(1, counts.Values.Sum());
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"| {(rows == int.MaxValue ? "stage" : "type")} | share of {what} |");
        text.AppendLine("| --- | ---: |");
        foreach (var (name, count) in counts.OrderByDescending(c => c.Value).Take(rows))
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"| {name} | {100.0 * count / total:0.0} % |");
        }

        return text.ToString();
    }
}
