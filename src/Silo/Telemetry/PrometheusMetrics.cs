using System.Diagnostics.Metrics;
using System.Globalization;
using Microsoft.Extensions.Configuration;
using Prometheus;

namespace Dispatcher.Silo.Telemetry;

/// <summary>
/// This host's Prometheus metrics, in prometheus-net's own registry and metric types (so <c>/metrics</c> has counters
/// as <c>counter</c> with <c>_total</c>, seconds as <c>_seconds</c>, real histogram buckets). Our instruments are
/// declared once with <c>System.Diagnostics.Metrics</c> (they also go out by OTLP); a <see cref="MeterListener"/> feeds
/// each measurement to its prometheus-net counterpart as it happens, and observable instruments are read before each
/// scrape. Only instruments made by this host's <see cref="IMeterFactory"/> are taken, so hosts sharing a process
/// (tests) keep their series apart: the <c>Dispatcher.*</c> meters, and of Orleans' meter a few chosen families
/// (<see cref="OrleansFamilies"/>): exporting all of them cost 35-45 % of client-to-silo throughput in our spike, and
/// even the grain call latency histogram alone (a measurement per grain call, several per request) cost 10-15 % of
/// the dispatcher's requests/s at 16 and 64 clients (bench/RESULTS.md, 2026-12-02), so it is exported only when
/// asked (<see cref="TelemetryOptions.GrainCallLatency"/>).
/// Thread-safe.
/// </summary>
public sealed class PrometheusMetrics : IDisposable
{
    /// <summary>Bucket bounds of every histogram in seconds.</summary>
    public static readonly double[] SecondsBuckets = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];

    /// <summary>
    /// Orleans instruments exported, by their name: the Prometheus name (a counter's gets <c>_total</c>) and a factor to
    /// base units. Their kinds come from the instruments themselves.
    /// </summary>
    private static readonly Dictionary<string, (string Name, string Help, double Scale)> OrleansFamilies = new(StringComparer.Ordinal)
    {
        ["orleans-catalog-activations"] = ("orleans_catalog_activations", "Grain activations on this silo by grain type.", 1),
        ["orleans-app-requests-latency"] = ("orleans_app_requests_latency_seconds", "Time grain calls made from this process took.", 0.001),
        ["orleans-app-requests-timedout"] = ("orleans_app_requests_timedout", "Grain calls that passed their response timeout.", 1),
        ["orleans-messaging-rejected"] = ("orleans_messaging_rejected", "Messages Orleans rejected.", 1),
        ["orleans-gateway-connected-clients"] = ("orleans_gateway_connected_clients", "Clients (Frontends) connected to this silo's gateway.", 1),
        ["orleans-client-connected-gateways"] = ("orleans_client_connected_gateways", "Silo gateways this client (a Frontend) is connected to.", 1),
    };

    private readonly MeterListener _listener = new();
    private readonly List<Family> _observable = [];
    private readonly Lock _gate = new();

    /// <summary>The Orleans instrument left out unless <see cref="TelemetryOptions.GrainCallLatency"/>.</summary>
    private const string GrainCallLatency = "orleans-app-requests-latency";

    public PrometheusMetrics(IMeterFactory meterFactory, IConfiguration configuration)
    {
        var grainCallLatency = OpenTelemetryExport.Settings(configuration).GrainCallLatency;
        var factory = Metrics.WithCustomRegistry(Registry);
        DotNetStats.Register(Registry); // process_cpu_seconds_total, process_working_set_bytes, dotnet_collection_count_total, ...
        var allocated = factory.CreateCounter("dotnet_gc_allocated_bytes_total", "Bytes allocated on the managed heap by this process since it started.");
        Registry.AddBeforeCollectCallback(() => allocated.IncTo(GC.GetTotalAllocatedBytes()));
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (!ReferenceEquals(instrument.Meter.Scope, meterFactory) || ExportOf(instrument, grainCallLatency) is not { } export)
            {
                return;
            }

            var family = new Family(export, instrument, factory);
            if (instrument.IsObservable)
            {
                lock (_gate)
                {
                    _observable.Add(family);
                }
            }

            listener.EnableMeasurementEvents(instrument, family);
        };
        _listener.SetMeasurementEventCallback<long>((_, value, tags, state) => ((Family)state!).Record(value, tags));
        _listener.SetMeasurementEventCallback<int>((_, value, tags, state) => ((Family)state!).Record(value, tags));
        _listener.SetMeasurementEventCallback<double>((_, value, tags, state) => ((Family)state!).Record(value, tags));
        _listener.Start();
        Registry.AddBeforeCollectCallback(ReadObservable);
    }

    /// <summary>The registry <c>/metrics</c> serves.</summary>
    public CollectorRegistry Registry { get; } = Metrics.NewCustomRegistry();

    public void Dispose() => _listener.Dispose();

    /// <summary>Whether <paramref name="instrument"/> is one of those exported (OTLP takes the same Orleans ones).</summary>
    public static bool IsExported(Instrument instrument, bool grainCallLatency) => ExportOf(instrument, grainCallLatency) is not null;

    /// <summary>
    /// How an instrument is exported, or null when it is not: ours by rule (<c>dispatcher.queue.wait</c> in seconds is
    /// the histogram <c>dispatcher_queue_wait_seconds</c>, <c>dispatcher.requests</c> the counter
    /// <c>dispatcher_requests_total</c>), Orleans' from <see cref="OrleansFamilies"/>.
    /// </summary>
    internal static Export? ExportOf(Instrument instrument, bool grainCallLatency)
    {
        string name;
        string help;
        double scale = 1;
        if (instrument.Meter.Name == "Microsoft.Orleans")
        {
            if (!OrleansFamilies.TryGetValue(instrument.Name, out var chosen) || (instrument.Name == GrainCallLatency && !grainCallLatency))
            {
                return null;
            }

            (name, help, scale) = chosen;
        }
        else if (instrument.Meter.Name.StartsWith("Dispatcher.", StringComparison.Ordinal))
        {
            name = instrument.Name.Replace('.', '_').Replace('-', '_');
            if (instrument.Unit == "s" && !name.EndsWith("_seconds", StringComparison.Ordinal))
            {
                name += "_seconds";
            }

            help = instrument.Description ?? instrument.Name;
        }
        else
        {
            return null;
        }

        return instrument switch
        {
            Counter<long> or Counter<int> or Counter<double> or ObservableCounter<long> or ObservableCounter<int> or ObservableCounter<double> =>
                new Export(name + "_total", Kind.Counter, help, scale),
            Histogram<double> or Histogram<long> or Histogram<int> => new Export(name, Kind.Histogram, help, scale),
            _ => new Export(name, Kind.Gauge, help, scale),
        };
    }

    /// <summary>Reads every observable instrument; a gauge's series no longer observed disappears.</summary>
    private void ReadObservable()
    {
        Family[] observable;
        lock (_gate)
        {
            observable = [.. _observable];
        }

        foreach (var family in observable)
        {
            family.BeginObservation();
        }

        _listener.RecordObservableInstruments();
        foreach (var family in observable)
        {
            family.EndObservation();
        }
    }

    internal enum Kind
    {
        Counter,
        Gauge,
        Histogram,
    }

    /// <summary>How one instrument is exported.</summary>
    /// <param name="Name">Its Prometheus name.</param>
    /// <param name="Kind">Its Prometheus type.</param>
    /// <param name="Help">Its help text.</param>
    /// <param name="Scale">Multiplies each value (Orleans measures milliseconds; Prometheus wants seconds).</param>
    internal sealed record Export(string Name, Kind Kind, string Help, double Scale = 1);

    /// <summary>
    /// One instrument's prometheus-net metric, made at its first measurement (an instrument does not declare its tag
    /// keys; each of ours always uses the same ones): later measurements are matched to those labels by key.
    /// </summary>
    private sealed class Family(Export export, Instrument instrument, IMetricFactory factory)
    {
        private readonly bool _observable = instrument.IsObservable;
        private readonly bool _deltas = instrument is UpDownCounter<long> or UpDownCounter<int> or UpDownCounter<double>;
        private readonly Lock _gate = new();
        private readonly HashSet<string> _seen = new(StringComparer.Ordinal);
        private string[]? _keys; // the tag keys of the first measurement, in order; label i is key i with '.' as '_'
        private Counter? _counter;
        private Gauge? _gauge;
        private Histogram? _histogram;

        public void Record(double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            var keys = Volatile.Read(ref _keys) ?? Create(tags);
            var values = new string[keys.Length];
            for (var i = 0; i < keys.Length; i++)
            {
                // Our instruments pass their tags in the same order every time: looked up by key only otherwise.
                values[i] = Text(i < tags.Length && ReferenceEquals(tags[i].Key, keys[i]) ? tags[i].Value : ValueOf(tags, keys[i]));
            }

            value *= export.Scale;
            switch (export.Kind)
            {
                case Kind.Counter when _observable:
                    _counter!.WithLabels(values).IncTo(value); // an observable counter reports its running total
                    break;
                case Kind.Counter:
                    _counter!.WithLabels(values).Inc(value);
                    break;
                case Kind.Gauge when _deltas:
                    _gauge!.WithLabels(values).Inc(value); // an up-down counter reports changes
                    break;
                case Kind.Gauge:
                    _gauge!.WithLabels(values).Set(value);
                    if (_observable)
                    {
                        lock (_gate)
                        {
                            _seen.Add(string.Join('\u0001', values));
                        }
                    }

                    break;
                default:
                    _histogram!.WithLabels(values).Observe(value);
                    break;
            }
        }

        public void BeginObservation()
        {
            lock (_gate)
            {
                _seen.Clear();
            }
        }

        /// <summary>Removes the series of a gauge that were not observed this time.</summary>
        public void EndObservation()
        {
            if (_gauge is null)
            {
                return;
            }

            lock (_gate)
            {
                foreach (var values in _gauge.GetAllLabelValues().ToList())
                {
                    if (!_seen.Contains(string.Join('\u0001', values)))
                    {
                        _gauge.RemoveLabelled(values);
                    }
                }
            }
        }

        private static object? ValueOf(ReadOnlySpan<KeyValuePair<string, object?>> tags, string key)
        {
            foreach (var tag in tags)
            {
                if (tag.Key == key)
                {
                    return tag.Value;
                }
            }

            return null;
        }

        private static string Text(object? value) => value as string ?? Convert.ToString(value, CultureInfo.InvariantCulture) ?? "";

        private string[] Create(ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            var keys = new string[tags.Length];
            var names = new string[tags.Length];
            for (var i = 0; i < tags.Length; i++)
            {
                keys[i] = tags[i].Key;
                names[i] = tags[i].Key.Replace('.', '_');
            }

            lock (_gate)
            {
                if (_keys is not null)
                {
                    return _keys;
                }

                switch (export.Kind)
                {
                    case Kind.Counter:
                        _counter = factory.CreateCounter(export.Name, export.Help, names);
                        break;
                    case Kind.Gauge:
                        _gauge = factory.CreateGauge(export.Name, export.Help, names);
                        break;
                    default:
                        _histogram = factory.CreateHistogram(export.Name, export.Help, names, new HistogramConfiguration { Buckets = SecondsBuckets });
                        break;
                }

                Volatile.Write(ref _keys, keys);
                return keys;
            }
        }
    }
}
