namespace Dispatcher.Silo.Client;

/// <summary>
/// Keeps a Frontend's waiting requests of one model in their original order when they are submitted again after
/// the model moved: each takes a turn in arrival order and holds it until the new owner has queued it. Requests
/// that broke at the same moment settle for a few milliseconds first, so the earliest goes first. Thread-safe.
/// </summary>
internal sealed class ResubmitOrder(TimeProvider time)
{
    private static readonly TimeSpan Settle = TimeSpan.FromMilliseconds(20);
    private readonly Lock _gate = new();
    private readonly SortedDictionary<long, TaskCompletionSource> _waiting = [];
    private long _arrivals;
    private bool _busy;

    /// <summary>The next arrival number (order of first submission).</summary>
    public long Arrive() => Interlocked.Increment(ref _arrivals);

    /// <summary>Waits until the requests that arrived before <paramref name="arrival"/> and are resubmitting have gone.</summary>
    public async Task<Turn> WaitTurnAsync(long arrival, CancellationToken cancellationToken)
    {
        await Task.Delay(Settle, time, cancellationToken).ConfigureAwait(false);
        var turn = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_gate)
        {
            _waiting[arrival] = turn;
            if (!_busy)
            {
                PassLocked();
            }
        }

        using (cancellationToken.Register(() =>
        {
            lock (_gate)
            {
                if (_waiting.Remove(arrival))
                {
                    turn.TrySetCanceled(cancellationToken);
                }
            }
        }))
        {
            await turn.Task.ConfigureAwait(false); // once given, a turn is always returned, so it is always passed on
        }

        return new Turn(this);
    }

    private void PassLocked()
    {
        if (_waiting.Count == 0)
        {
            _busy = false;
            return;
        }

        var (arrival, next) = _waiting.First();
        _waiting.Remove(arrival);
        _busy = true;
        next.TrySetResult();
    }

    /// <summary>The right to submit now; dispose it once submitted (or failed) to let the next one go.</summary>
    public sealed class Turn(ResubmitOrder order) : IDisposable
    {
        private int _done;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _done, 1) == 0)
            {
                lock (order._gate)
                {
                    order.PassLocked();
                }
            }
        }
    }
}
