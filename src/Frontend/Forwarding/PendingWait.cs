namespace Dispatcher.Frontend.Forwarding;

/// <summary>
/// A lease call this Frontend is waiting on, as the <see cref="LeaseRenewer"/> sees it. When the model grain's activation
/// that holds the call is gone (its silo died), the renewer abandons the call and the forwarder submits the request
/// again; <see cref="AbandonAsync"/> returns once it has, so requests are submitted again in their original order.
/// When no renewal has reached the model grain for the failover timeout, the renewer gives the call up for good
/// (<see cref="GiveUp"/>): the client gets 503 instead of waiting on a call nobody may ever answer. Thread-safe.
/// </summary>
/// <param name="requestId">The request waiting.</param>
/// <param name="sequence">Its arrival order at this Frontend.</param>
/// <param name="registered"><see cref="TimeProvider.GetTimestamp"/> when its first call was issued.</param>
/// <param name="aborted">The client left: also ends the wait for the current call, but does not cancel the call.</param>
internal sealed class PendingWait(string requestId, long sequence, long registered, CancellationToken aborted) : IDisposable
{
    private readonly Lock _gate = new();
    private CancellationTokenSource _abandon = CancellationTokenSource.CreateLinkedTokenSource(aborted);
    private CancellationTokenSource _cancelCall = new();
    private TaskCompletionSource _issued = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private bool _disposed;

    public string RequestId { get; } = requestId;

    /// <summary>Arrival order at this Frontend.</summary>
    public long Sequence { get; } = sequence;

    /// <summary><see cref="TimeProvider.GetTimestamp"/> when the current call was issued.</summary>
    public long Registered { get; private set; } = registered;

    /// <summary>
    /// Cancelled when the current call itself is given up (by the renewer), not when the client leaves: the call is
    /// passed this. A client that leaves is told to the grain with <c>AbandonAsync</c> (a lookup by request id there),
    /// while cancelling the call costs the grain a look through every call it runs: 100,000 clients leaving at once
    /// kept it busy for minutes.
    /// </summary>
    public CancellationToken CallCancelled
    {
        get
        {
            lock (_gate)
            {
                return _cancelCall.Token;
            }
        }
    }

    /// <summary>Cancelled when the current call must be given up, or when the client left: ends the wait for it.</summary>
    public CancellationToken Abandoned
    {
        get
        {
            lock (_gate)
            {
                return _abandon.Token;
            }
        }
    }

    /// <summary>
    /// <see cref="TimeProvider.GetTimestamp"/> when a renewal first found the current call unknown to its model's
    /// activation although it was issued after that activation began (still on its way); null otherwise.
    /// </summary>
    public long? UnknownSince { get; set; }

    /// <summary>Gives up the current call; completes when the request was submitted again (or the caller left).</summary>
    public Task AbandonAsync()
    {
        lock (_gate)
        {
            if (!_disposed)
            {
                _cancelCall.Cancel();
                _abandon.Cancel();
            }

            return _issued.Task;
        }
    }

    /// <summary>True once <see cref="GiveUp"/> was called: the request is not submitted again.</summary>
    public bool GivenUp { get; private set; }

    /// <summary>Gives up the current call for good: the cluster has not answered about it for the failover timeout.</summary>
    public void GiveUp()
    {
        lock (_gate)
        {
            if (!_disposed)
            {
                GivenUp = true;
                _cancelCall.Cancel();
                _abandon.Cancel();
            }
        }
    }

    /// <summary>Called by the forwarder once it gave up an abandoned call, before it issues the next one.</summary>
    public void Rearm(long timestamp)
    {
        lock (_gate)
        {
            if (!_disposed && _abandon.IsCancellationRequested)
            {
                _abandon.Dispose();
                _abandon = CancellationTokenSource.CreateLinkedTokenSource(aborted);
                _cancelCall.Dispose();
                _cancelCall = new CancellationTokenSource();
            }

            Registered = timestamp;
            UnknownSince = null;
        }
    }

    /// <summary>Called by the forwarder once the new call is on its way: the renewer may abandon the next request.</summary>
    public void Reissued()
    {
        lock (_gate)
        {
            _issued.TrySetResult();
            _issued = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
    }

    /// <summary>The request left (granted, refused, client gone): nobody waits for it any more.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            _disposed = true;
            _issued.TrySetResult();
            _abandon.Dispose();
            _cancelCall.Dispose();
        }
    }
}
