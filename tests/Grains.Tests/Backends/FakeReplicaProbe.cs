using System.Collections.Concurrent;
using System.Globalization;
using Dispatcher.Grains.Backends;

namespace Dispatcher.Grains.Tests.Backends;

/// <summary>Replicas on a script: each address answers what the test set, or fails.</summary>
internal sealed class FakeReplicaProbe : IReplicaProbe
{
    private readonly ConcurrentDictionary<string, FakeReplica> _replicas = new();

    public FakeReplica this[string address] => _replicas.GetOrAdd(address.TrimEnd('/'), _ => new FakeReplica());

    public Task<ProbeResult> ScrapeAsync(Uri replica, CancellationToken cancellationToken)
    {
        var fake = this[replica.AbsoluteUri];
        Interlocked.Increment(ref fake.Scrapes);
        return Task.FromResult(fake.Down ? ProbeResult.Failure("connection refused") : ProbeResult.Success(fake.Metrics()));
    }

    public Task<bool> IsHealthyAsync(Uri replica, CancellationToken cancellationToken)
    {
        var fake = this[replica.AbsoluteUri];
        Interlocked.Increment(ref fake.Probes);
        return Task.FromResult(!fake.Down);
    }
}

/// <summary>
/// An emulated vLLM replica's counters, advanced by the test: <see cref="Run"/> adds <c>seconds</c> of decoding
/// at the current running count with the step time <c>StepBase + StepPerRunning * running</c>.
/// </summary>
internal sealed class FakeReplica
{
    public int Scrapes;
    public int Probes;

    public bool Down { get; set; }

    public double Running { get; set; }

    public double Waiting { get; set; }

    public double KvUsage { get; set; }

    public double StepBase { get; set; } = 0.010;

    public double StepPerRunning { get; set; } = 0.005;

    public double Generated { get; private set; }

    public double ItlSum { get; private set; }

    public double ItlCount { get; private set; }

    public double Created { get; private set; } = 1_700_000_000;

    public int Engines { get; set; } = 1;

    /// <summary>When true the replica exposes no inter-token histogram (older or trimmed builds).</summary>
    public bool WithoutInterTokenLatency { get; set; }

    public void Run(double seconds)
    {
        if (Running <= 0)
        {
            return;
        }

        var step = StepBase + (StepPerRunning * Running);
        var steps = Math.Floor(seconds / step);
        Generated += steps * Running;
        ItlCount += steps * Running;
        ItlSum += steps * Running * step;
    }

    /// <summary>A vLLM restart: counters start again from zero with a new creation time.</summary>
    public void Restart()
    {
        Generated = ItlSum = ItlCount = 0;
        Created += 1000;
    }

    public string Metrics()
    {
        var lines = new List<string>();
        for (var engine = 0; engine < Engines; engine++)
        {
            // Every engine carries an equal share of the load.
            string Share(double value) => (value / Engines).ToString("R", CultureInfo.InvariantCulture);
            var labels = $"engine=\"{engine}\",model_name=\"m\"";
            lines.Add($"vllm:num_requests_running{{{labels}}} {Share(Running)}");
            lines.Add($"vllm:num_requests_waiting{{{labels}}} {Share(Waiting)}");
            lines.Add($"vllm:kv_cache_usage_perc{{{labels}}} {KvUsage.ToString("R", CultureInfo.InvariantCulture)}");
            lines.Add($"vllm:generation_tokens_total{{{labels}}} {Share(Generated)}");
            lines.Add($"vllm:generation_tokens_created{{{labels}}} {Created.ToString("R", CultureInfo.InvariantCulture)}");
            if (!WithoutInterTokenLatency)
            {
                lines.Add($"vllm:inter_token_latency_seconds_sum{{{labels}}} {Share(ItlSum)}");
                lines.Add($"vllm:inter_token_latency_seconds_count{{{labels}}} {Share(ItlCount)}");
            }

            lines.Add($"vllm:time_to_first_token_seconds_count{{{labels}}} 0.0");
        }

        return string.Join('\n', lines) + "\n";
    }
}
