using System.Runtime.InteropServices;
using Dispatcher.Grains.Abstractions;
using Dispatcher.Frontend.Auth;
using Dispatcher.Frontend.Cluster;
using Dispatcher.Frontend.Errors;
using Dispatcher.Frontend.Logging;
using Dispatcher.Frontend.Requests;
using Dispatcher.Frontend.Telemetry;
using Dispatcher.Grains.Abstractions.Backends;
using Dispatcher.Grains.Abstractions.Configuration;
using Dispatcher.Grains.Abstractions.Leases;
using Dispatcher.Grains.Abstractions.Models;
using Dispatcher.Silo.Hosting;
using Microsoft.Extensions.Options;
using Yarp.ReverseProxy.Forwarder;

namespace Dispatcher.Frontend.Forwarding;

/// <summary>
/// Serves one inspected request: waits for a lease from the model's grain, forwards the original bytes to
/// the granted replica with YARP (streamed, each chunk flushed as it arrives), and releases the lease when
/// the response ends or the client goes away, whatever happens in between.
/// </summary>
internal sealed partial class LeaseForwarder(
    IGrainFactory grains,
    LeaseRenewer renewer,
    TokenPolicyCache policies,
    IOptions<ClusterOptions> clusterOptions,
    IHostApplicationLifetime lifetime,
    IHttpForwarder forwarder,
    UpstreamClient upstream,
    IOptions<DispatcherOptions> dispatcherOptions,
    IOptions<ForwardingOptions> forwardingOptions,
    FrontendMetrics metrics,
    TimeProvider time,
    ILogger<LeaseForwarder> logger)
{
    private const int MaxAttempts = 2;

    /// <summary>
    /// An abandon that takes longer is given up: the model grain's silo is gone, and its next activation never knew the
    /// request. (A release is one-way: it is done once sent.)
    /// </summary>
    private static readonly TimeSpan ReleaseTimeout = TimeSpan.FromSeconds(5);
    private readonly ForwarderRequestConfig _requestConfig = new() { ActivityTimeout = forwardingOptions.Value.ActivityTimeout };

    /// <param name="context">The client's request.</param>
    /// <param name="token">Who sent it.</param>
    /// <param name="body">What it asks for.</param>
    /// <param name="arrived"><see cref="TimeProvider.GetTimestamp"/> when it arrived.</param>
    public async Task ForwardAsync(HttpContext context, AuthenticatedToken token, InspectedBody body, long arrived)
    {
        var requestId = RequestIdMiddleware.Of(context);
        var priority = Math.Min(token.Policy.Priority, body.Priority ?? int.MaxValue);
        var model = grains.GetGrainByKey<IModelGrain>(body.Model);
        var request = new LeaseRequest(requestId, token.TokenId, priority, token.Policy.MaxInFlight, HolderId: renewer.HolderId);

        // A replica that cannot be reached before anything was sent gets the request once more, elsewhere.
        for (var attempt = 1; attempt <= MaxAttempts; attempt++)
        {
            LeaseGrant grant;
            try
            {
                grant = await AcquireAsync(model, body.Model, request, context.RequestAborted);
            }
            catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
            {
                // The grant may have crossed the cancellation: the grain releases a lease nobody will use.
                await EndAsync(static (grain, id) => grain.AbandonAsync(id, CancellationToken.None), model, requestId, requestId);
                Log.ClientAborted(logger, requestId, body.Model, "waiting");
                metrics.Request(body.Model, priority, "cancelled");
                return;
            }

            if (grant.Outcome is LeaseOutcome.Granted or LeaseOutcome.QueueTimeout)
            {
                metrics.QueueWait(body.Model, priority, grant.Waited);
            }

            if (grant.Outcome != LeaseOutcome.Granted)
            {
                if (grant.Outcome == LeaseOutcome.TokenRejected)
                {
                    policies.Forget(token.TokenId); // revoked while cached here
                }

                Log.Refused(logger, requestId, body.Model, token.Policy.Name, grant.Outcome.ToString());
                metrics.Request(body.Model, priority, grant.Outcome switch
                {
                    LeaseOutcome.OverThreshold => "rejected_threshold",
                    LeaseOutcome.QueueTimeout => "timed_out",
                    LeaseOutcome.SiloUnavailable => "dispatcher_unavailable",
                    LeaseOutcome.TokenRejected => "token_rejected",
                    LeaseOutcome.TokenStoreUnavailable => "token_store_unavailable",
                    _ => "no_backend",
                });
                await WriteRefusalAsync(context, body.Model, grant);
                return;
            }

            renewer.Hold(body.Model, requestId, token.TokenId, priority, token.Policy.MaxInFlight, grant);
            metrics.Overhead(body.Model, time.GetElapsedTime(arrived) - grant.Waited);
            var leaseStarted = time.GetTimestamp();

            var reason = LeaseEndReason.UpstreamFailed;
            var clientBody = context.Response.Body;
            var meter = new UsageMeter(clientBody, time);
            context.Response.Body = meter;
            var watchdog = new ResponseWatchdog(context, meter, forwardingOptions.Value, time);
            try
            {
                reason = await SendAsync(context, body, priority, grant, requestId, lastAttempt: attempt == MaxAttempts);
                if (watchdog.EndedBecause is { } because)
                {
                    Log.EndedByDispatcher(logger, requestId, body.Model, because);
                    reason = LeaseEndReason.UpstreamFailed;
                }
            }
            finally
            {
                watchdog.Dispose();
                context.Response.Body = clientBody;
                int? status = context.Response.HasStarted ? context.Response.StatusCode : null;
                var usage = context.Response.StatusCode < 400 ? meter.Usage : null;
                renewer.Drop(body.Model, grant.LeaseId!);
                try
                {
                    if (reason == LeaseEndReason.Completed)
                    {
                        // The client has its whole answer before the lease goes back: the release is not on its critical path.
                        await context.Response.CompleteAsync();
                    }
                }
                catch (Exception exception) when (exception is IOException or OperationCanceledException or ObjectDisposedException)
                {
                    // The client left just as its answer ended.
                }
                finally
                {
                    await EndAsync(static (grain, ending) => grain.ReleaseAsync(ending, CancellationToken.None), model, new LeaseRelease(grant.LeaseId!, reason, status, usage), requestId);
                }

                metrics.LeaseDuration(body.Model, reason.ToString(), time.GetElapsedTime(leaseStarted));
            }

            var retry = reason == LeaseEndReason.UpstreamUnreachable && !context.Response.HasStarted && attempt < MaxAttempts;
            if (!retry)
            {
                metrics.Request(body.Model, priority, reason switch
                {
                    LeaseEndReason.ClientAborted => "cancelled",
                    LeaseEndReason.UpstreamUnreachable => "upstream_unreachable",
                    _ => "granted",
                }, reason is LeaseEndReason.Completed or LeaseEndReason.UpstreamFailed ? context.Response.StatusCode : null);
                return;
            }

            context.Response.Clear();
        }
    }

    /// <summary>
    /// Waits for a lease at the model's grain, wherever it runs. A call whose activation is gone (the renewer abandons
    /// it) and a request sent back by a stopping silo are submitted again with the time already waited; calls that fail
    /// because no silo answers (or that keep being sent back) are tried again until such failures have lasted the failover
    /// timeout (time spent waiting in a queue does not count), then answered <see cref="LeaseOutcome.SiloUnavailable"/>.
    /// A client that leaves ends it with <see cref="OperationCanceledException"/>.
    /// </summary>
    private async Task<LeaseGrant> AcquireAsync(IModelGrain model, string modelName, LeaseRequest request, CancellationToken aborted)
    {
        var started = time.GetTimestamp();
        long? failingSince = null; // the first of the quick failures in a row: the failover timeout counts from there
        var wait = renewer.BeginWait(modelName, request.RequestId, aborted);
        try
        {
            var resubmitted = false;
            while (true)
            {
                var abandoned = wait.Abandoned; // also cancelled when the client leaves
                var issued = time.GetTimestamp();
                try
                {
                    // A client that leaves does not cancel the call: ForwardAsync tells the grain (AbandonAsync), see PendingWait.
                    var pending = model.AcquireAsync(request with { AlreadyWaited = time.GetElapsedTime(started) }, wait.CallCancelled);
                    if (resubmitted)
                    {
                        wait.Reissued();
                        resubmitted = false;
                    }

                    // Raced rather than only cancelled: a call stuck at a dead silo may not end when its token is
                    // cancelled, and a client that leaves ends the wait without cancelling the call.
                    var grant = await pending.WaitAsync(abandoned);
                    if (grant.Outcome != LeaseOutcome.Stopping)
                    {
                        return grant;
                    }

                    Log.SiloStopping(logger, request.RequestId, modelName);
                }
                catch (OperationCanceledException) when (!aborted.IsCancellationRequested && abandoned.IsCancellationRequested && wait.GivenUp)
                {
                    // Nothing answered about its model for the failover timeout; if the grain lives on, it drops the request.
                    _ = EndAsync(static (grain, id) => grain.AbandonAsync(id, CancellationToken.None), model, request.RequestId, request.RequestId);
                    return LeaseGrant.Refused(LeaseOutcome.SiloUnavailable, time.GetElapsedTime(started), dispatcherOptions.Value.RetryAfter);
                }
                catch (OperationCanceledException) when (!aborted.IsCancellationRequested && abandoned.IsCancellationRequested)
                {
                    wait.Rearm(time.GetTimestamp()); // its activation is gone: at once to the next one
                    resubmitted = true;
                    continue;
                }
                catch (Exception exception) when (ClusterCall.IsClusterFailure(exception))
                {
                    Log.SiloCallFailed(logger, request.RequestId, modelName, exception.GetType().Name, exception.Message);
                }

                // Time spent waiting in a queue does not count: a call that was pending a while (it waited in a wait list,
                // then its silo stopped) starts a new run of failures. Calls that hang are given up by the renewer instead.
                if (failingSince is null || time.GetElapsedTime(issued) >= clusterOptions.Value.RenewInterval)
                {
                    failingSince = time.GetTimestamp();
                }

                if (lifetime.ApplicationStopping.IsCancellationRequested || time.GetElapsedTime(failingSince.Value) > clusterOptions.Value.FailoverTimeout)
                {
                    return LeaseGrant.Refused(LeaseOutcome.SiloUnavailable, time.GetElapsedTime(started), dispatcherOptions.Value.RetryAfter);
                }

                await Task.Delay(ClusterCall.RetryPause, time, aborted);
            }
        }
        finally
        {
            renewer.EndWait(modelName, wait);
        }
    }

    /// <summary>
    /// A last call about a request (its release, or that it was given up), raced against <see cref="ReleaseTimeout"/>
    /// (the release is one-way: done once it is sent, or failed when no silo takes it). The call itself is not
    /// cancelled when the time is up: it still does its job when it arrives, and cancelling it
    /// would cost the model grain a look through every call it runs (see <see cref="IModelGrain.AcquireAsync"/>), for
    /// each of thousands of such calls when many clients leave at once. A failure is only logged: the activation is gone
    /// or unreachable, and if it lives on, the holder reconciliation takes the lease or the wait back. The call is a
    /// static lambda with its argument: a capturing one is allocated when the method declaring what it captures starts,
    /// so every request paid for it, a waiting one for its whole wait.
    /// </summary>
    private async Task EndAsync<TArgument>(Func<IModelGrain, TArgument, Task> call, IModelGrain model, TArgument argument, string requestId)
    {
        try
        {
            await call(model, argument).WaitAsync(ReleaseTimeout, time);
        }
        catch (Exception exception) when (exception is OperationCanceledException || ClusterCall.IsClusterFailure(exception))
        {
            Log.ReleaseFailed(logger, requestId, exception.GetType().Name);
        }
    }

    private async Task<LeaseEndReason> SendAsync(HttpContext context, InspectedBody body, int priority, LeaseGrant grant, string requestId, bool lastAttempt)
    {
        // The body was read whole to inspect it; those same bytes are forwarded, but for vLLM's own priority field. They go
        // through the request (YARP 2.3 refuses a transformer that replaces the outgoing content).
        var scheduling = dispatcherOptions.Value.Scheduling;
        var content = PriorityRewriter.Rewrite(body, scheduling.ForwardPriority ? SchedulingOptions.MaxPriority - priority : null);
        var request = context.Request;
        request.Body = MemoryMarshal.TryGetArray(content, out var bytes)
            ? new MemoryStream(bytes.Array!, bytes.Offset, bytes.Count, writable: false)
            : new MemoryStream(content.ToArray(), writable: false);
        request.ContentLength = content.Length;
        request.Headers.TransferEncoding = default;

        var backend = BackendAddress.Key(grant.Backend!);
        var apiKey = dispatcherOptions.Value.FindModel(body.Model)?.ApiKey;
        var transformer = new UpstreamTransformer(apiKey, requestId);
        var error = await forwarder.SendAsync(context, backend, upstream.Invoker, _requestConfig, transformer);
        switch (error)
        {
            case ForwarderError.None:
                Log.Forwarded(logger, requestId, body.Model, backend, context.Response.StatusCode, grant.Waited.TotalMilliseconds);
                return LeaseEndReason.Completed;
            case ForwarderError.RequestCanceled or ForwarderError.RequestBodyCanceled or ForwarderError.RequestBodyClient
                or ForwarderError.ResponseBodyCanceled or ForwarderError.ResponseBodyClient:
                Log.ClientAborted(logger, requestId, body.Model, "streaming");
                return LeaseEndReason.ClientAborted;
            default:
                var exception = context.Features.Get<IForwarderErrorFeature>()?.Exception;
                Log.UpstreamFailed(logger, exception, requestId, body.Model, backend, error.ToString());
                // Sent elsewhere only when it never reached this replica (no connection could be made): a request that
                // reached it and broke before the answer may have run there, so it is answered 502, not sent twice.
                var unreachable = error == ForwarderError.Request && !context.Response.HasStarted
                    && exception is HttpRequestException { HttpRequestError: HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError };
                if (unreachable && !lastAttempt)
                {
                    return LeaseEndReason.UpstreamUnreachable;
                }

                var timedOut = error == ForwarderError.RequestTimedOut;
                await OpenAiErrorWriter.WriteAsync(
                    context,
                    timedOut ? DispatcherError.UpstreamTimeout : DispatcherError.UpstreamUnreachable,
                    timedOut ? "The model server did not answer in time." : "The model server could not be reached or failed to answer.");
                return unreachable ? LeaseEndReason.UpstreamUnreachable : LeaseEndReason.UpstreamFailed;
        }
    }

    private Task WriteRefusalAsync(HttpContext context, string model, LeaseGrant grant) => grant.Outcome switch
    {
        LeaseOutcome.OverThreshold => OpenAiErrorWriter.WriteAsync(context, DispatcherError.OverThreshold,
            "Too many of your requests are already waiting for this service. Retry after some of them complete.", retryAfter: grant.RetryAfter),
        LeaseOutcome.QueueTimeout => OpenAiErrorWriter.WriteAsync(context, DispatcherError.QueueTimeout,
            $"The model '{model}' is busy: the request waited {grant.Waited.TotalSeconds:0.#} s without a free slot.", retryAfter: grant.RetryAfter),
        LeaseOutcome.SiloUnavailable => OpenAiErrorWriter.WriteAsync(context, DispatcherError.SiloUnavailable,
            $"The dispatcher cannot schedule the model '{model}' right now (its scheduler is moving to another node). Retry shortly.", retryAfter: grant.RetryAfter),
        LeaseOutcome.TokenRejected => OpenAiErrorWriter.WriteAsync(context, DispatcherError.UnknownToken, "Incorrect API key provided."),
        LeaseOutcome.TokenStoreUnavailable => OpenAiErrorWriter.WriteAsync(context, DispatcherError.TokenStoreUnavailable,
            "The token store cannot be reached right now; try again shortly.", retryAfter: TimeSpan.FromSeconds(5)),
        _ => OpenAiErrorWriter.WriteAsync(context, DispatcherError.NoHealthyBackend,
            $"No server for the model '{model}' is available right now.", retryAfter: grant.RetryAfter),
    };

    private static partial class Log
    {
        [LoggerMessage(FrontendEventIds.Refused, LogLevel.Information, "Request {RequestId} for {Model} from {TokenName} refused: {Outcome}")]
        public static partial void Refused(ILogger logger, string requestId, string model, string tokenName, string outcome);

        [LoggerMessage(FrontendEventIds.Forwarded, LogLevel.Debug, "Request {RequestId} for {Model} served by {Backend}: status {StatusCode} after waiting {WaitedMs} ms")]
        public static partial void Forwarded(ILogger logger, string requestId, string model, string backend, int statusCode, double waitedMs);

        [LoggerMessage(FrontendEventIds.UpstreamFailed, LogLevel.Warning, "Request {RequestId} for {Model} failed at {Backend}: {Error}")]
        public static partial void UpstreamFailed(ILogger logger, Exception? exception, string requestId, string model, string backend, string error);

        [LoggerMessage(FrontendEventIds.EndedByDispatcher, LogLevel.Warning, "Request {RequestId} for {Model} ended by the dispatcher: {Reason}")]
        public static partial void EndedByDispatcher(ILogger logger, string requestId, string model, string reason);

        [LoggerMessage(FrontendEventIds.SiloCallFailed, LogLevel.Warning, "Request {RequestId} for {Model}: the cluster did not answer ({Error}: {Message}); trying again")]
        public static partial void SiloCallFailed(ILogger logger, string requestId, string model, string error, string message);

        [LoggerMessage(FrontendEventIds.SiloStopping, LogLevel.Debug, "Request {RequestId} for {Model}: the model's silo is stopping; submitting it again")]
        public static partial void SiloStopping(ILogger logger, string requestId, string model);

        [LoggerMessage(FrontendEventIds.ReleaseFailed, LogLevel.Warning, "Request {RequestId}: its lease could not be released ({Error})")]
        public static partial void ReleaseFailed(ILogger logger, string requestId, string error);

        [LoggerMessage(FrontendEventIds.ClientAborted, LogLevel.Information, "Request {RequestId} for {Model}: the client went away while {Stage}")]
        public static partial void ClientAborted(ILogger logger, string requestId, string model, string stage);
    }
}
