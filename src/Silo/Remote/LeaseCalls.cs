using System.Collections.Concurrent;

namespace Dispatcher.Silo.Remote;

/// <summary>
/// The lease calls open on this silo, waiting or granted. An explicit release ends its lease's call
/// (<see cref="Release"/>); a handover ends every call of a model (<see cref="MoveAwayAsync"/>) and waits until
/// each has cleaned up, so the model's grain can go with nothing in it. Thread-safe.
/// </summary>
public sealed class LeaseCalls
{
    private readonly ConcurrentDictionary<OpenCall, string> _calls = new();
    private readonly ConcurrentDictionary<string, OpenCall> _granted = new(StringComparer.Ordinal);

    /// <summary>Calls open now.</summary>
    public int Count => _calls.Count;

    /// <summary>Registers a call for <paramref name="model"/>; dispose it when the call ends.</summary>
    public OpenCall Open(string model)
    {
        var call = new OpenCall(this, model);
        _calls[call] = model;
        return call;
    }

    /// <summary>Ends the call holding <paramref name="leaseId"/>, released by its frontend. False when there is none.</summary>
    public bool Release(string leaseId)
    {
        if (!_granted.TryRemove(leaseId, out var call))
        {
            return false;
        }

        call.Released.TrySetResult();
        return true;
    }

    /// <summary>
    /// Tells every call of <paramref name="model"/> that the model is moving (they answer <c>moved</c> and clean up)
    /// and waits, at most <paramref name="timeout"/> (else <see cref="TimeoutException"/>), until they have. Returns how many calls there were.
    /// </summary>
    public async Task<int> MoveAwayAsync(string model, TimeSpan timeout)
    {
        var moving = _calls.Where(c => c.Value == model).Select(c => c.Key).ToList();
        foreach (var call in moving)
        {
            try
            {
                await call.Moving.CancelAsync().ConfigureAwait(false);
            }
            catch (ObjectDisposedException)
            {
                // It ended on its own meanwhile.
            }
        }

        await Task.WhenAll(moving.Select(c => c.Ended.Task)).WaitAsync(timeout).ConfigureAwait(false);
        return moving.Count;
    }

    /// <summary>One open call.</summary>
    public sealed class OpenCall : IDisposable
    {
        private readonly LeaseCalls _owner;
        private string? _leaseId;

        internal OpenCall(LeaseCalls owner, string model)
        {
            _owner = owner;
            Model = model;
        }

        public string Model { get; }

        /// <summary>Cancelled when the model moves to another silo.</summary>
        public CancellationTokenSource Moving { get; } = new();

        /// <summary>Completed when the frontend releases the call's lease.</summary>
        public TaskCompletionSource Released { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        internal TaskCompletionSource Ended { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>The call now holds <paramref name="leaseId"/>: a release of that lease ends it.</summary>
        public void Holds(string leaseId)
        {
            _leaseId = leaseId;
            _owner._granted[leaseId] = this;
        }

        public void Dispose()
        {
            if (_leaseId is not null)
            {
                _owner._granted.TryRemove(KeyValuePair.Create(_leaseId, this));
            }

            _owner._calls.TryRemove(this, out _);
            Moving.Dispose();
            Ended.TrySetResult();
        }
    }
}
