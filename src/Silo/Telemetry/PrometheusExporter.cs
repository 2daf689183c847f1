using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;

namespace Dispatcher.Silo.Telemetry;

/// <summary>
/// Collects every instrument of the <c>Dispatcher.*</c> meters made by this host's <see cref="IMeterFactory"/>
/// (so several hosts in one process, as in tests, do not mix) through a <see cref="MeterListener"/> and writes
/// them in the Prometheus text exposition format (0.0.4): dots become underscores, counters end in
/// <c>_total</c>, seconds in <c>_seconds</c>, histograms have cumulative <c>_bucket</c> series with <c>le</c>, plus
/// <c>_sum</c> and <c>_count</c>; observable gauges are read at each scrape. Thread-safe.
/// </summary>
public sealed class PrometheusExporter : IDisposable
{
    /// <summary>Bucket bounds of every histogram in seconds.</summary>
    public static readonly double[] SecondsBuckets = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];

    private readonly MeterListener _listener = new();
    private readonly Dictionary<Instrument, Family> _families = [];
    private readonly Lock _gate = new();

    public PrometheusExporter(IMeterFactory meterFactory)
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name.StartsWith("Dispatcher.", StringComparison.Ordinal) && ReferenceEquals(instrument.Meter.Scope, meterFactory))
            {
                lock (_gate)
                {
                    _families[instrument] = new Family(instrument);
                }

                listener.EnableMeasurementEvents(instrument, _families[instrument]);
            }
        };
        _listener.SetMeasurementEventCallback<long>((_, value, tags, state) => ((Family)state!).Record(value, tags));
        _listener.SetMeasurementEventCallback<int>((_, value, tags, state) => ((Family)state!).Record(value, tags));
        _listener.SetMeasurementEventCallback<double>((_, value, tags, state) => ((Family)state!).Record(value, tags));
        _listener.MeasurementsCompleted = (instrument, _) =>
        {
            lock (_gate)
            {
                _families.Remove(instrument);
            }
        };
        _listener.Start();
    }

    /// <summary>The exposition content type.</summary>
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    /// <summary>Reads the observable instruments and writes everything collected so far.</summary>
    public string Write()
    {
        Family[] families;
        lock (_gate)
        {
            families = [.. _families.Values];
        }

        foreach (var family in families.Where(f => f.IsObservable))
        {
            family.Clear(); // a series that is no longer observed disappears
        }

        _listener.RecordObservableInstruments();
        var text = new StringBuilder(4096);
        foreach (var family in families.OrderBy(f => f.Name, StringComparer.Ordinal))
        {
            family.WriteTo(text);
        }

        return text.ToString();
    }

    public void Dispose() => _listener.Dispose();

    /// <summary>The Prometheus name of an instrument: <c>dispatcher.queue.wait</c> in seconds is <c>dispatcher_queue_wait_seconds</c>.</summary>
    public static string PrometheusName(Instrument instrument)
    {
        var name = instrument.Name.Replace('.', '_').Replace('-', '_');
        return instrument.Unit == "s" && !name.EndsWith("_seconds", StringComparison.Ordinal) ? name + "_seconds" : name;
    }

    private sealed class Family(Instrument instrument)
    {
        private readonly Dictionary<string, Series> _series = new(StringComparer.Ordinal);

        public string Name { get; } = PrometheusName(instrument);

        public bool IsObservable { get; } = instrument.IsObservable;

        private string Type => instrument switch
        {
            Counter<long> or Counter<int> or Counter<double> or ObservableCounter<long> or ObservableCounter<double> => "counter",
            Histogram<double> or Histogram<long> or Histogram<int> => "histogram",
            _ => "gauge",
        };

        public void Record(double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            var labels = Labels(tags);
            lock (_series)
            {
                if (!_series.TryGetValue(labels, out var series))
                {
                    _series[labels] = series = new Series(Type == "histogram" ? new long[SecondsBuckets.Length + 1] : null);
                }

                series.Add(value, Type);
            }
        }

        public void Clear()
        {
            lock (_series)
            {
                _series.Clear();
            }
        }

        public void WriteTo(StringBuilder text)
        {
            lock (_series)
            {
                if (_series.Count == 0)
                {
                    return;
                }

                var type = Type;
                var name = type == "counter" ? Name + "_total" : Name;
                text.Append(CultureInfo.InvariantCulture, $"# HELP {name} {Escape(instrument.Description ?? instrument.Name, help: true)}\n");
                text.Append(CultureInfo.InvariantCulture, $"# TYPE {name} {type}\n");
                foreach (var (labels, series) in _series.OrderBy(p => p.Key, StringComparer.Ordinal))
                {
                    if (type != "histogram")
                    {
                        text.Append(CultureInfo.InvariantCulture, $"{name}{Braces(labels)} {Format(series.Value)}\n");
                        continue;
                    }

                    long cumulative = 0;
                    for (var i = 0; i <= SecondsBuckets.Length; i++)
                    {
                        cumulative += series.Buckets![i];
                        var le = i < SecondsBuckets.Length ? Format(SecondsBuckets[i]) : "+Inf";
                        var withLe = labels.Length == 0 ? $"le=\"{le}\"" : $"{labels},le=\"{le}\"";
                        text.Append(CultureInfo.InvariantCulture, $"{name}_bucket{{{withLe}}} {cumulative}\n");
                    }

                    text.Append(CultureInfo.InvariantCulture, $"{name}_sum{Braces(labels)} {Format(series.Value)}\n");
                    text.Append(CultureInfo.InvariantCulture, $"{name}_count{Braces(labels)} {series.Count}\n");
                }
            }
        }

        private static string Labels(ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            if (tags.IsEmpty)
            {
                return "";
            }

            var pairs = tags.ToArray();
            Array.Sort(pairs, (a, b) => string.CompareOrdinal(a.Key, b.Key));
            return string.Join(',', pairs.Select(p => $"{p.Key.Replace('.', '_')}=\"{Escape(Convert.ToString(p.Value, CultureInfo.InvariantCulture) ?? "", help: false)}\""));
        }

        private static string Braces(string labels) => labels.Length == 0 ? "" : $"{{{labels}}}";

        private static string Escape(string value, bool help) =>
            help ? value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal)
                : value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);

        private static string Format(double value) =>
            double.IsPositiveInfinity(value) ? "+Inf" : double.IsNegativeInfinity(value) ? "-Inf" : double.IsNaN(value) ? "NaN" : value.ToString("R", CultureInfo.InvariantCulture);
    }

    /// <summary>One label set: a sum (counter), a last value (gauge) or bucket counts, sum and count (histogram).</summary>
    private sealed class Series(long[]? buckets)
    {
        public double Value { get; private set; }

        public long Count { get; private set; }

        public long[]? Buckets { get; } = buckets;

        public void Add(double value, string type)
        {
            switch (type)
            {
                case "gauge":
                    Value = value;
                    break;
                case "counter":
                    Value += value;
                    break;
                default:
                    var i = 0;
                    while (i < SecondsBuckets.Length && value > SecondsBuckets[i])
                    {
                        i++;
                    }

                    Buckets![i]++;
                    Value += value;
                    Count++;
                    break;
            }
        }
    }
}
