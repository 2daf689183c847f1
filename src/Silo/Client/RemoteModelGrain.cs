using System.Net;
using System.Text.Json;
using Dispatcher.Grains.Abstractions.Backends;
using Dispatcher.Grains.Abstractions.Leases;
using Dispatcher.Grains.Abstractions.Models;
using Dispatcher.Silo.Remote;
using Microsoft.Extensions.Logging;

namespace Dispatcher.Silo.Client;

/// <summary>
/// A model grain hosted by a remote silo, seen from a Frontend. <see cref="AcquireAsync"/> is one streaming call to
/// the model's owner; when that call breaks or answers <c>moved</c> before a grant, the request is submitted again,
/// in its original order and with the time it already waited, to whichever silo hosts the model then. Only when no
/// silo serves the model for <see cref="RemoteSiloOptions.FailoverTimeout"/> is it refused
/// (<see cref="LeaseOutcome.SiloUnavailable"/>). Methods meant for grains inside a silo are not available here.
/// </summary>
internal sealed partial class RemoteModelGrain(string model, RemoteSiloClient client) : IModelGrain
{
    private static readonly TimeSpan RetryAfter = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan LongestPause = TimeSpan.FromMilliseconds(500);

    public async Task<LeaseGrant> AcquireAsync(LeaseRequest request, CancellationToken cancellationToken)
    {
        var time = client.Time;
        var order = client.OrderOf(model);
        var arrival = order.Arrive();
        var started = time.GetTimestamp();
        long failedAt = 0;
        long failingSince = 0;
        var pause = TimeSpan.Zero;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var patience = failedAt == 0 ? client.Options.FailoverTimeout : client.Options.FailoverTimeout - time.GetElapsedTime(failingSince);
            var owner = patience > TimeSpan.Zero ? await client.Directory.ResolveAsync(model, failedAt, patience, cancellationToken).ConfigureAwait(false) : null;
            if (owner is null)
            {
                Log.SiloUnavailable(client.Logger, request.RequestId, model, client.Options.FailoverTimeout);
                return LeaseGrant.Refused(LeaseOutcome.SiloUnavailable, request.AlreadyWaited + time.GetElapsedTime(started), RetryAfter);
            }

            var turn = failedAt == 0 ? null : await order.WaitTurnAsync(arrival, cancellationToken).ConfigureAwait(false);
            HttpResponseMessage? response = null;
            LeaseEventReader? events = null;
            try
            {
                var call = new LeaseCall(model, request with { AlreadyWaited = request.AlreadyWaited + time.GetElapsedTime(started) });
                response = await client.Http.OpenAsync(owner.Address, SiloProtocol.LeasesPath, call, cancellationToken).ConfigureAwait(false);
                if (response.IsSuccessStatusCode)
                {
                    events = new LeaseEventReader(await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false));
                    var message = await events.ReadAsync(cancellationToken).ConfigureAwait(false);
                    turn?.Dispose(); // queued at the new owner: the next resubmitted request may go
                    if (message?.Type == LeaseEvent.Queued)
                    {
                        failingSince = 0;
                        pause = TimeSpan.Zero;
                        message = await events.ReadAsync(cancellationToken).ConfigureAwait(false);
                    }

                    if (message?.Type == LeaseEvent.Granted && message.LeaseId is not null && message.Backend is not null)
                    {
                        var adoption = new LeaseAdoption(message.LeaseId, request.RequestId, request.TokenId, request.Priority, request.MaxInFlight, message.Backend, TimeSpan.Zero);
                        client.Leases.Add(new RemoteLease(client.Http, client.Directory, time, client.Logger, model, adoption, owner.Address, response, events));
                        response = null; // the lease holds the call now
                        events = null;
                        return new LeaseGrant(LeaseOutcome.Granted, message.LeaseId, message.Backend, Waited(message), null);
                    }

                    if (message?.Type == LeaseEvent.Refused && message.Outcome is { } outcome)
                    {
                        return LeaseGrant.Refused(outcome, Waited(message), message.RetryAfterMs is { } ms ? TimeSpan.FromMilliseconds(ms) : null);
                    }
                }
                else if (response.StatusCode != HttpStatusCode.MisdirectedRequest)
                {
                    Log.Resubmitting(client.Logger, request.RequestId, model, owner.SiloId, $"status {(int)response.StatusCode}");
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                throw; // closing the call takes the request out of the owner's wait list
            }
            catch (Exception exception) when (exception is HttpRequestException or IOException or OperationCanceledException or JsonException)
            {
                Log.Resubmitting(client.Logger, request.RequestId, model, owner.SiloId, exception.Message);
            }
            finally
            {
                turn?.Dispose();
                events?.Dispose();
                response?.Dispose();
            }

            // Moved or broken before a grant: nothing was granted (or what was died with its silo). Submit again,
            // at once the first time, then pausing longer each time the same failure repeats.
            await Task.Delay(pause, time, cancellationToken).ConfigureAwait(false);
            pause = TimeSpan.FromTicks(Math.Clamp(pause.Ticks * 2, TimeSpan.TicksPerMillisecond * 25, LongestPause.Ticks));
            failedAt = time.GetTimestamp();
            if (failingSince == 0)
            {
                failingSince = failedAt;
            }
        }
    }

    /// <summary>Hands the release to <see cref="RemoteLeases"/>: the request's response does not wait for the silo.</summary>
    public Task ReleaseAsync(LeaseRelease release, CancellationToken cancellationToken)
    {
        client.Leases.Release(release);
        return Task.CompletedTask;
    }

    public async Task<ModelSnapshot> GetSnapshotAsync(CancellationToken cancellationToken)
    {
        var owner = await client.Directory.ResolveAsync(model, 0, client.Options.FailoverTimeout, cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidOperationException($"No silo hosts the model '{model}' now.");
        return await client.Http.GetAsync<ModelSnapshot>(owner.Address, $"{SiloProtocol.SnapshotPath}?model={Uri.EscapeDataString(model)}", cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidOperationException($"Silo {owner.SiloId} no longer hosts the model '{model}'.");
    }

    public async Task<int> GetWaitingCountAsync(CancellationToken cancellationToken) => (await GetSnapshotAsync(cancellationToken).ConfigureAwait(false)).Waiting;

    public Task<bool> AdoptAsync(LeaseAdoption adoption, CancellationToken cancellationToken) => throw InsideSiloOnly();

    public Task OnBackendChangedAsync(BackendSnapshot snapshot, CancellationToken cancellationToken) => throw InsideSiloOnly();

    public Task OnTokenReleasedAsync(string tokenId, CancellationToken cancellationToken) => throw InsideSiloOnly();

    private static NotSupportedException InsideSiloOnly() => new("Only grains inside a silo call this method; a Frontend's leases are adopted by their calls.");

    private static TimeSpan Waited(LeaseEvent message) => TimeSpan.FromMilliseconds(message.WaitedMs ?? 0);

    private static partial class Log
    {
        [LoggerMessage(SiloEventIds.ClientResubmitted, LogLevel.Information, "Request {RequestId} for {Model}: silo {SiloId} no longer serves it ({Reason}); submitting it again")]
        public static partial void Resubmitting(ILogger logger, string requestId, string model, string siloId, string reason);

        [LoggerMessage(SiloEventIds.ClientSiloUnavailable, LogLevel.Warning, "Request {RequestId} for {Model}: no silo served the model within {Timeout}")]
        public static partial void SiloUnavailable(ILogger logger, string requestId, string model, TimeSpan timeout);
    }
}
