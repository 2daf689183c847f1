using System.Diagnostics.Metrics;
using Dispatcher.Grains.Abstractions.Configuration;

namespace Dispatcher.Frontend.Telemetry;

/// <summary>
/// The Frontend's instruments (meter <c>Dispatcher.Frontend</c>): every dispatched request by model, priority
/// class and outcome; its queue wait; the time the dispatcher itself adds; lease lifetimes; failed
/// authentications. Labels are model ids, priority classes and fixed words: never a token. Thread-safe.
/// </summary>
internal sealed class FrontendMetrics
{
    public const string MeterName = "Dispatcher.Frontend";

    /// <summary>The <c>status_class</c> labels, made once instead of per request.</summary>
    private static readonly string[] StatusClasses = ["1xx", "2xx", "3xx", "4xx", "5xx"];

    private readonly Counter<long> _requests;
    private readonly Histogram<double> _queueWait;
    private readonly Histogram<double> _overhead;
    private readonly Histogram<double> _leaseDuration;
    private readonly Counter<long> _authFailures;

    public FrontendMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(MeterName);
        _requests = meter.CreateCounter<long>("dispatcher.requests", "{request}",
            "Dispatched requests by outcome: granted (with the replica's status class), rejected_threshold, timed_out, no_backend, dispatcher_unavailable, token_rejected, token_store_unavailable, cancelled, upstream_unreachable.");
        _queueWait = meter.CreateHistogram<double>("dispatcher.queue.wait", "s", "Time requests spent in the wait list.");
        _overhead = meter.CreateHistogram<double>("dispatcher.overhead", "s", "Time the dispatcher adds before forwarding, queue wait excluded.");
        _leaseDuration = meter.CreateHistogram<double>("dispatcher.lease.duration", "s", "How long leases were held, by how they ended.");
        _authFailures = meter.CreateCounter<long>("dispatcher.auth.failures", "{request}", "Requests refused at authentication, by reason.");
    }

    public void Request(string model, int priority, string outcome, int? upstreamStatus = null)
    {
        if (_requests.Enabled)
        {
            var statusClass = upstreamStatus is >= 100 and < 600 ? StatusClasses[(upstreamStatus.Value / 100) - 1] : "none";
            _requests.Add(1, new("model", model), new("priority_class", PriorityClass.Of(priority)), new("outcome", outcome), new("status_class", statusClass));
        }
    }

    public void QueueWait(string model, int priority, TimeSpan waited)
    {
        if (_queueWait.Enabled)
        {
            _queueWait.Record(waited.TotalSeconds, new("model", model), new("priority_class", PriorityClass.Of(priority)));
        }
    }

    public void Overhead(string model, TimeSpan added)
    {
        if (_overhead.Enabled)
        {
            _overhead.Record(added.TotalSeconds, new KeyValuePair<string, object?>("model", model));
        }
    }

    public void LeaseDuration(string model, string reason, TimeSpan held)
    {
        if (_leaseDuration.Enabled)
        {
            _leaseDuration.Record(held.TotalSeconds, new("model", model), new("reason", reason));
        }
    }

    public void AuthFailure(string reason) => _authFailures.Add(1, new KeyValuePair<string, object?>("reason", reason));
}
