using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Dispatcher.Grains.Abstractions.Backends;

namespace Dispatcher.Grains.Telemetry;

/// <summary>
/// The grains' instruments (meter <c>Dispatcher.Grains</c>): requests waiting and in flight by model and
/// priority class, each replica's live load and health, and token-store lookups. Grains publish their state
/// here from their turns; the observable instruments read it on collection. Thread-safe.
/// Labels are model ids, replica addresses, priority classes and fixed words: never a token.
/// </summary>
public sealed class GrainsMetrics
{
    public const string MeterName = "Dispatcher.Grains";

    private readonly ConcurrentDictionary<(string Model, string Class), LoadCell> _load = new();
    private readonly ConcurrentDictionary<string, BackendSnapshot> _replicas = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, ReplicaCounts> _modelReplicas = new(StringComparer.Ordinal);
    private readonly Counter<long> _tokenLookups;

    public GrainsMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(MeterName);
        meter.CreateObservableGauge("dispatcher.waiting", () => Load(cell => cell.Waiting), "{request}", "Requests in a model's wait list.");
        meter.CreateObservableGauge("dispatcher.in_flight", () => Load(cell => cell.InFlight), "{request}", "Requests holding a lease on a replica.");
        meter.CreateObservableGauge("dispatcher.replica.per_user_rate", () => Replicas(s => s.Load?.PerUserRate), "{token}/s", "Estimated tokens per second each running request gets.");
        meter.CreateObservableGauge("dispatcher.replica.running", () => Replicas(s => s.Load?.Running), "{request}", "Requests running in the replica, as scraped.");
        meter.CreateObservableGauge("dispatcher.replica.waiting", () => Replicas(s => s.Load?.Waiting), "{request}", "Requests queued inside the replica, as scraped.");
        meter.CreateObservableGauge("dispatcher.replica.kv_cache_usage", () => Replicas(s => s.Load?.KvCacheUsage), "1", "KV-cache usage of the replica, 0 to 1.");
        meter.CreateObservableGauge("dispatcher.replica.healthy", () => Replicas(s => s.Healthy ? 1 : 0), "1", "1 while the replica is in service, 0 while ejected.");
        meter.CreateObservableGauge("dispatcher.model.replicas", ModelReplicas, "{replica}",
            "A model's replicas by state: serving (in service), with_room (serving and able to take a lease now), draining (no longer ready; their last leases run). The signal to scale a model's replicas on, with dispatcher.waiting.");
        _tokenLookups = meter.CreateCounter<long>("dispatcher.token_store.lookups", "{lookup}", "Token lookups by result: cached, found, unknown, stale (cached policy used while the store is unreachable), unavailable.");
    }

    /// <summary>Moves requests of one model and priority class between waiting and in flight.</summary>
    public void Adjust(string model, int priority, int waiting, int inFlight)
    {
        var cell = _load.GetOrAdd((model, Abstractions.Configuration.PriorityClass.Of(priority)), _ => new LoadCell());
        Interlocked.Add(ref cell.Waiting, waiting);
        Interlocked.Add(ref cell.InFlight, inFlight);
    }

    /// <summary>The latest state of a replica.</summary>
    public void Replica(BackendSnapshot snapshot) => _replicas[BackendAddress.Key(snapshot.Address)] = snapshot;

    /// <summary>A replica no longer tracked here (its grain deactivated): its series end.</summary>
    public void ReplicaGone(Uri address) => _replicas.TryRemove(BackendAddress.Key(address), out _);

    /// <summary>How many of a model's replicas serve, have room and drain, from its grain on this silo.</summary>
    public void ModelReplicas(string model, int serving, int withRoom, int draining) => _modelReplicas[model] = new ReplicaCounts(serving, withRoom, draining);

    /// <summary>The model's grain left this silo: its replica counts are reported by its next activation.</summary>
    public void ModelGone(string model) => _modelReplicas.TryRemove(model, out _);

    public void TokenLookup(string result)
    {
        if (_tokenLookups.Enabled)
        {
            _tokenLookups.Add(1, new KeyValuePair<string, object?>("result", result));
        }
    }

    private IEnumerable<Measurement<int>> Load(Func<LoadCell, int> read) =>
        _load.Select(p => new Measurement<int>(read(p.Value), new("model", p.Key.Model), new("priority_class", p.Key.Class)));

    private IEnumerable<Measurement<double>> Replicas(Func<BackendSnapshot, double?> read)
    {
        foreach (var (replica, snapshot) in _replicas)
        {
            if (read(snapshot) is { } value)
            {
                yield return new Measurement<double>(value, new KeyValuePair<string, object?>("replica", replica));
            }
        }
    }

    private IEnumerable<Measurement<int>> ModelReplicas()
    {
        foreach (var (model, counts) in _modelReplicas)
        {
            yield return new Measurement<int>(counts.Serving, new("model", model), new("state", "serving"));
            yield return new Measurement<int>(counts.WithRoom, new("model", model), new("state", "with_room"));
            yield return new Measurement<int>(counts.Draining, new("model", model), new("state", "draining"));
        }
    }

    private sealed record ReplicaCounts(int Serving, int WithRoom, int Draining);

    private sealed class LoadCell
    {
        public int Waiting;
        public int InFlight;
    }
}
