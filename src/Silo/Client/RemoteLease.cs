using System.Text.Json;
using Dispatcher.Grains.Abstractions.Leases;
using Dispatcher.Silo.Remote;
using Microsoft.Extensions.Logging;

namespace Dispatcher.Silo.Client;

/// <summary>
/// A lease granted to this Frontend by a remote silo, held as the open call that granted it. When that call ends
/// while the request still runs (the silo died, or handed the model over), the lease is adopted by the model's new
/// owner, so its replica's capacity keeps counting it; the request itself never notices, as it streams straight from
/// the replica. <see cref="ReleaseAsync"/> posts the release (with usage) to whichever silo holds the call now.
/// </summary>
internal sealed partial class RemoteLease : IDisposable
{
    private static readonly TimeSpan FirstRetry = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan LastRetry = TimeSpan.FromSeconds(1);
    private readonly Lock _gate = new();
    private readonly CancellationTokenSource _ended = new();
    private readonly SiloConnection _http;
    private readonly SiloDirectory _directory;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly string _model;
    private readonly LeaseAdoption _adoption;
    private readonly long _grantedAt;
    private string _silo;
    private HttpResponseMessage? _call;
    private LeaseEventReader? _events;
    private bool _released;
    private int _abandoned;
    private Task _watch = Task.CompletedTask;

    public RemoteLease(SiloConnection http, SiloDirectory directory, TimeProvider time, ILogger logger, string model, LeaseAdoption adoption, string silo, HttpResponseMessage call, LeaseEventReader events)
    {
        _http = http;
        _directory = directory;
        _time = time;
        _logger = logger;
        _model = model;
        _adoption = adoption;
        _grantedAt = time.GetTimestamp();
        _silo = silo;
        _call = call;
        _events = events;
    }

    public string LeaseId => _adoption.LeaseId;

    /// <summary>The silo holding the lease now.</summary>
    public string Silo
    {
        get
        {
            lock (_gate)
            {
                return _silo;
            }
        }
    }

    public void Start() => _watch = WatchAsync();

    /// <summary>Ends the lease: the release goes to the silo holding it; if it cannot be told, closing the call releases it there.</summary>
    public async Task ReleaseAsync(LeaseRelease release)
    {
        string silo;
        HttpResponseMessage? call;
        lock (_gate)
        {
            _released = true;
            silo = _silo;
            call = _call;
        }

        if (call is not null)
        {
            try
            {
                await _http.PostAsync(silo, SiloProtocol.ReleasePath, new ReleaseCall(_model, release), CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception exception) when (exception is HttpRequestException or IOException or OperationCanceledException)
            {
                Log.ReleaseFailed(_logger, release.LeaseId, silo, exception.Message);
            }
        }

        await AbandonAsync().ConfigureAwait(false);
    }

    /// <summary>Stops tracking the lease and closes its call (the silo then releases it as abandoned).</summary>
    public async Task AbandonAsync()
    {
        if (Interlocked.Exchange(ref _abandoned, 1) == 1)
        {
            return;
        }

        lock (_gate)
        {
            _released = true;
        }

        await _ended.CancelAsync().ConfigureAwait(false);
        CloseCall();
        await _watch.ConfigureAwait(false);
        Dispose();
    }

    public void Dispose() => _ended.Dispose();

    private async Task WatchAsync()
    {
        var ended = _ended.Token;
        while (true)
        {
            LeaseEventReader? events;
            lock (_gate)
            {
                events = _events;
            }

            try
            {
                while (events is not null && await events.ReadAsync(ended).ConfigureAwait(false) is { } message && message.Type != LeaseEvent.Moved)
                {
                }
            }
            catch (Exception exception) when (exception is IOException or HttpRequestException or OperationCanceledException or ObjectDisposedException or JsonException)
            {
                // The call broke: the same as "moved".
            }

            lock (_gate)
            {
                if (_released)
                {
                    return;
                }
            }

            CloseCall();
            if (!await AdoptAsync(ended).ConfigureAwait(false))
            {
                return;
            }
        }
    }

    /// <summary>Registers the lease with the model's current owner; true once a silo holds it again.</summary>
    private async Task<bool> AdoptAsync(CancellationToken ended)
    {
        var failedAt = _time.GetTimestamp();
        var delay = FirstRetry;
        while (!ended.IsCancellationRequested)
        {
            try
            {
                if (await _directory.ResolveAsync(_model, failedAt, LastRetry, ended).ConfigureAwait(false) is { } owner)
                {
                    var adoption = _adoption with { Held = _time.GetElapsedTime(_grantedAt) };
                    var response = await _http.OpenAsync(owner.Address, SiloProtocol.AdoptPath, new AdoptCall(_model, adoption), ended).ConfigureAwait(false);
                    var events = new LeaseEventReader(await response.Content.ReadAsStreamAsync(ended).ConfigureAwait(false));
                    var first = response.IsSuccessStatusCode ? await events.ReadAsync(ended).ConfigureAwait(false) : null;
                    if (first?.Type == LeaseEvent.Adopted && Hold(owner.Address, response, events))
                    {
                        Log.Adopted(_logger, LeaseId, _model, owner.SiloId);
                        return true;
                    }

                    events.Dispose();
                    response.Dispose();
                    if (first?.Type == LeaseEvent.Refused)
                    {
                        Log.AdoptionFailed(_logger, LeaseId, _model, "the new owner does not serve its replica");
                        return false;
                    }
                }
            }
            catch (Exception exception) when (!ended.IsCancellationRequested && exception is HttpRequestException or IOException or OperationCanceledException or JsonException)
            {
                Log.AdoptionFailed(_logger, LeaseId, _model, exception.Message);
            }
            catch (OperationCanceledException)
            {
                return false;
            }

            try
            {
                await Task.Delay(delay, _time, ended).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return false;
            }

            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, LastRetry.Ticks));
            failedAt = _time.GetTimestamp();
        }

        return false;
    }

    /// <summary>Makes an adoption call the lease's call, unless the lease was released meanwhile.</summary>
    private bool Hold(string silo, HttpResponseMessage call, LeaseEventReader events)
    {
        lock (_gate)
        {
            if (_released)
            {
                return false;
            }

            _silo = silo;
            _call = call;
            _events = events;
            return true;
        }
    }

    private void CloseCall()
    {
        HttpResponseMessage? call;
        LeaseEventReader? events;
        lock (_gate)
        {
            call = _call;
            events = _events;
            _call = null;
            _events = null;
        }

        events?.Dispose();
        call?.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(SiloEventIds.ClientAdopted, LogLevel.Information, "Lease {LeaseId} of {Model} adopted by silo {SiloId}")]
        public static partial void Adopted(ILogger logger, string leaseId, string model, string siloId);

        [LoggerMessage(SiloEventIds.ClientAdoptionFailed, LogLevel.Warning, "Lease {LeaseId} of {Model} not adopted yet: {Reason}")]
        public static partial void AdoptionFailed(ILogger logger, string leaseId, string model, string reason);

        [LoggerMessage(SiloEventIds.ClientReleaseFailed, LogLevel.Warning, "Lease {LeaseId}: silo {Silo} could not be told of its release ({Reason}); closing its call releases it")]
        public static partial void ReleaseFailed(ILogger logger, string leaseId, string silo, string reason);
    }
}
