using Dispatcher.Grains.Abstractions;
using System.Collections.Concurrent;
using Dispatcher.Frontend.Cluster;
using Dispatcher.Grains.Abstractions.Leases;
using Dispatcher.Grains.Abstractions.Models;
using Dispatcher.Silo.Hosting;
using Microsoft.Extensions.Options;

namespace Dispatcher.Frontend.Forwarding;

/// <summary>
/// Keeps this Frontend's leases and waiting lease calls alive at their model grains: about every second, one
/// <see cref="IModelGrain.RenewAsync"/> per model lists them all. A model grain drops what a silent holder holds
/// (so a crashed Frontend frees its capacity within the holder expiry), adopts leases it does not know (its activation
/// is new: the previous one's silo died) and names the waiting calls it does not know: those issued before it began are
/// stuck at an activation that is gone, so they are abandoned and submitted again, in their original order (those
/// issued after are still on their way; see <see cref="IsStuck"/>). A waiting call that has seen no
/// renewal answered by its model for <see cref="ClusterOptions.FailoverTimeout"/>, when the cluster then refuses a
/// renewal, is given up (the client gets 503): an Orleans client's call to a silo that died may otherwise stay pending
/// for its whole response timeout. A renewal answered late still counts, and one that is only slow gives nothing up
/// (a busy grain or a busy Frontend is not a dead silo); a model has one renewal on its way at a time. Thread-safe.
/// </summary>
internal sealed partial class LeaseRenewer(IGrainFactory grains, IOptions<ClusterOptions> cluster, TimeProvider time, ILogger<LeaseRenewer> logger) : BackgroundService
{
    /// <summary>How long one model's renewal holds up the round before the renewer moves on (the call itself goes on).</summary>
    private static readonly TimeSpan RenewPause = TimeSpan.FromSeconds(2);

    /// <summary>How long the renewer waits for one abandoned call to be submitted again before it abandons the next.</summary>
    private static readonly TimeSpan ResubmitWait = TimeSpan.FromSeconds(1);

    private readonly ConcurrentDictionary<string, Holdings> _models = new(StringComparer.Ordinal);
    private long _sequence;

    /// <summary>This Frontend's id in the model grains (<see cref="LeaseRequest.HolderId"/>); new at every start.</summary>
    public string HolderId { get; } = Guid.CreateVersion7().ToString("N");

    /// <summary>Registers a lease call about to be issued.</summary>
    public PendingWait BeginWait(string model, string requestId, CancellationToken aborted)
    {
        var wait = new PendingWait(requestId, Interlocked.Increment(ref _sequence), time.GetTimestamp(), aborted);
        For(model).Waiting[requestId] = wait;
        return wait;
    }

    /// <summary>The lease call ended, one way or another.</summary>
    public void EndWait(string model, PendingWait wait)
    {
        For(model).Waiting.TryRemove(wait.RequestId, out _);
        wait.Dispose();
    }

    /// <summary>A lease granted to this Frontend: listed in every renewal until <see cref="Drop"/>.</summary>
    public void Hold(string model, string requestId, string tokenId, int priority, int? maxInFlight, LeaseGrant grant) =>
        For(model).Leases[grant.LeaseId!] = new HeldLease(grant.LeaseId!, requestId, tokenId, priority, maxInFlight, grant.Backend!, time.GetTimestamp());

    /// <summary>The lease is being released: no longer listed (a new activation must not adopt a finished request).</summary>
    public void Drop(string model, string leaseId) => For(model).Leases.TryRemove(leaseId, out _);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(cluster.Value.RenewInterval, time);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            var renewals = new List<Task>();
            foreach (var (model, holdings) in _models)
            {
                if (!holdings.Leases.IsEmpty || !holdings.Waiting.IsEmpty)
                {
                    renewals.Add(RenewAsync(model, holdings, stoppingToken));
                }
            }

            await Task.WhenAll(renewals);
        }
    }

    private async Task RenewAsync(string model, Holdings holdings, CancellationToken stoppingToken)
    {
        if (holdings.Pending is { IsCompleted: false })
        {
            // The last renewal has not been answered yet: no second one meanwhile. Slowness alone gives up nothing: a
            // burst of 100,000 requests kept the Frontend's own connection to the gateway, or the grain, busy for
            // longer than the failover timeout, and giving up then answered most of the burst 503.
            return;
        }

        // Only calls issued a renewal interval ago: a call just sent may not have reached the grain yet.
        var settled = cluster.Value.RenewInterval;
        var waiting = holdings.Waiting.Values.Where(w => time.GetElapsedTime(w.Registered) >= settled).Select(w => w.RequestId).ToList();
        var leases = holdings.Leases.Values.Select(l => l.ToAdoption(time)).ToList();
        var renewal = CallAsync(model, holdings, new LeaseRenewal(HolderId, leases, waiting), stoppingToken);
        holdings.Pending = renewal;
        try
        {
            await renewal.WaitAsync(RenewPause, time, stoppingToken);
        }
        catch (TimeoutException)
        {
            // Slow: the other models' renewals go on; its answer still counts when it comes.
        }
    }

    /// <summary>
    /// One renewal: bounded by the failover timeout (a call to a silo that died may otherwise never end, even when
    /// cancelled, so it is raced too), then its answer is acted on: refused leases dropped, unknown waits resubmitted.
    /// </summary>
    private async Task CallAsync(string model, Holdings holdings, LeaseRenewal renewal, CancellationToken stoppingToken)
    {
        RenewalResult result;
        using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken))
        {
            timeout.CancelAfter(cluster.Value.FailoverTimeout);
            try
            {
                result = await grains.GetGrainByKey<IModelGrain>(model).RenewAsync(renewal, timeout.Token).WaitAsync(timeout.Token);
            }
            catch (Exception exception) when (!stoppingToken.IsCancellationRequested && (exception is OperationCanceledException || ClusterCall.IsClusterFailure(exception)))
            {
                // The cluster said no (no gateway, the silo is gone, Orleans' own timeout): waits whose model has not
                // answered for the failover timeout are given up. Our own bound passing once is not taken as that (a
                // busy Frontend or grain); nothing answered for twice the failover timeout is (a silo cut off).
                Log.RenewalFailed(logger, model, exception.GetType().Name);
                if (exception is not OperationCanceledException || time.GetElapsedTime(holdings.Answered) > 2 * cluster.Value.FailoverTimeout)
                {
                    GiveUpUnanswered(model, holdings);
                }

                return;
            }
        }

        holdings.Answered = time.GetTimestamp();

        foreach (var leaseId in result.RefusedLeases)
        {
            holdings.Leases.TryRemove(leaseId, out _);
        }

        var stuck = result.UnknownWaiting.Select(id => holdings.Waiting.GetValueOrDefault(id)).OfType<PendingWait>()
            .Where(w => IsStuck(w, result.ActivationAge)).OrderBy(w => w.Sequence).ToList();
        if (stuck.Count > 0)
        {
            Log.Resubmitting(logger, stuck.Count, model, string.Join(",", stuck.Take(10).Select(w => w.RequestId)));
        }

        foreach (var wait in stuck)
        {
            try
            {
                await wait.AbandonAsync().WaitAsync(ResubmitWait, time, stoppingToken);
            }
            catch (TimeoutException)
            {
                // It is slow to come back; the rest must not wait for it.
            }
        }
    }

    /// <summary>
    /// Whether a call its model's activation does not know is stuck at one that is gone. One issued before the answering
    /// activation began may be (its age is measured now, when the answer is here, so the activation seems younger than it
    /// is, never older: a call judged issued after it really was). One issued after cannot be: it is still on its way,
    /// which in a burst of thousands of requests takes seconds, and submitting it again would only queue a second copy
    /// behind the first, over and over. Still, one left unknown for the failover timeout is taken as stuck.
    /// </summary>
    private bool IsStuck(PendingWait wait, TimeSpan activationAge)
    {
        if (time.GetElapsedTime(wait.Registered) >= activationAge)
        {
            return true;
        }

        wait.UnknownSince ??= time.GetTimestamp();
        return time.GetElapsedTime(wait.UnknownSince.Value) >= cluster.Value.FailoverTimeout;
    }

    /// <summary>Gives up the waiting calls that saw no renewal of their model answered for the failover timeout.</summary>
    private void GiveUpUnanswered(string model, Holdings holdings)
    {
        var limit = cluster.Value.FailoverTimeout;
        var unanswered = holdings.Waiting.Values.Where(w => time.GetElapsedTime(Math.Max(w.Registered, holdings.Answered)) > limit).ToList();
        if (unanswered.Count == 0)
        {
            return;
        }

        Log.GivingUp(logger, unanswered.Count, model, limit.TotalSeconds);
        foreach (var wait in unanswered)
        {
            wait.GiveUp();
        }
    }

    private Holdings For(string model) => _models.GetOrAdd(model, _ => new Holdings { Answered = time.GetTimestamp() });

    private sealed class Holdings
    {
        /// <summary><see cref="TimeProvider.GetTimestamp"/> of the last renewal the model grain answered.</summary>
        public long Answered { get; set; }

        public ConcurrentDictionary<string, HeldLease> Leases { get; } = new(StringComparer.Ordinal);

        public ConcurrentDictionary<string, PendingWait> Waiting { get; } = new(StringComparer.Ordinal);

        /// <summary>The last renewal sent, until it is answered or fails.</summary>
        public Task? Pending { get; set; }
    }

    private sealed record HeldLease(string LeaseId, string RequestId, string TokenId, int Priority, int? MaxInFlight, Uri Backend, long Granted)
    {
        public LeaseAdoption ToAdoption(TimeProvider time) => new(LeaseId, RequestId, TokenId, Priority, MaxInFlight, Backend, time.GetElapsedTime(Granted));
    }

    private static partial class Log
    {
        [LoggerMessage(FrontendEventIds.RenewalFailed, LogLevel.Warning, "Renewing leases at model {Model} failed ({Error}); retrying at the next interval")]
        public static partial void RenewalFailed(ILogger logger, string model, string error);

        [LoggerMessage(FrontendEventIds.GivingUp, LogLevel.Error, "{Count} waiting requests for {Model} are given up: no renewal reached its model grain for {Seconds} s (answered 503)")]
        public static partial void GivingUp(ILogger logger, int count, string model, double seconds);

        [LoggerMessage(FrontendEventIds.Resubmitting, LogLevel.Warning, "{Count} waiting requests for {Model} were at a model grain that is gone: submitting them again in order ({RequestIds})")]
        public static partial void Resubmitting(ILogger logger, int count, string model, string requestIds);
    }
}
