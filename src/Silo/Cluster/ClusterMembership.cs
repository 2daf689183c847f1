using Dispatcher.Grains.Abstractions.Configuration;
using Dispatcher.Grains.Abstractions.Models;
using Dispatcher.Silo.Activation;
using Dispatcher.Silo.Database;
using Dispatcher.Silo.Remote;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Dispatcher.Silo.Cluster;

/// <summary>
/// This silo's part in the cluster, on one dedicated PostgreSQL session that holds its advisory locks: the member
/// lock while the silo lives, and one lock per model it hosts. Every <see cref="ClusterOptions.HeartbeatInterval"/>
/// (or at once when another silo announces a change) it refreshes its heartbeat, marks silos whose locks are gone as
/// dead, takes the models nobody holds that rendezvous hashing gives it, and hands over one model that now belongs
/// to a newer silo. When the session breaks, or the heartbeat is overdue by <see cref="ClusterOptions.OwnershipTimeout"/>,
/// it stops serving every model at once (the database has let, or may let, another silo take them). When stopped,
/// it hands every model over before it exits.
/// </summary>
internal sealed partial class ClusterMembership : BackgroundService, IHostedLifecycleService
{
    private static readonly TimeSpan PollSlice = TimeSpan.FromMilliseconds(100);
    private readonly Dictionary<string, DateTimeOffset> _unheldSince = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _fenced = new(StringComparer.Ordinal); // model → timestamp from which it may be served
    private readonly SemaphoreSlim _losing = new(1, 1);
    private readonly CancellationTokenSource _leave = new();
    private readonly TaskCompletionSource _left = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly ModelOwnership _ownership;
    private readonly NpgsqlDataSource _dataSource;
    private readonly MigrationService _migrations;
    private readonly LocalSilo _silo;
    private readonly LeaseCalls _calls;
    private readonly IReadOnlyList<string> _models;
    private readonly ClusterOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<ClusterMembership> _logger;
    private long _lastHeartbeat;
    private long _lastCleanup;
    private volatile bool _wake;
    private ITimer? _watchdog;

    public ClusterMembership(
        ModelOwnership ownership,
        NpgsqlDataSource dataSource,
        MigrationService migrations,
        LocalSilo silo,
        LeaseCalls calls,
        IOptions<DispatcherOptions> dispatcher,
        IOptions<ClusterOptions> options,
        TimeProvider time,
        ILogger<ClusterMembership> logger)
    {
        _ownership = ownership;
        _dataSource = dataSource;
        _migrations = migrations;
        _silo = silo;
        _calls = calls;
        _models = [.. dispatcher.Value.Models.Select(m => m.Name)];
        _options = options.Value;
        _time = time;
        _logger = logger;
        SiloId = _options.SiloId!;
        Address = _options.AdvertisedAddress!;
    }

    public string SiloId { get; }

    public string Address { get; }

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        var period = TimeSpan.FromTicks(Math.Max(_options.HeartbeatInterval.Ticks / 4, TimeSpan.TicksPerMillisecond * 50));
        _watchdog = _time.CreateTimer(_ => _ = CheckHeartbeatAsync(), null, period, period);
        return base.StartAsync(cancellationToken);
    }

    /// <summary>
    /// The host is stopping: hand every model over now, before any service stops, while the internal endpoint still
    /// serves, so each open call can be told <c>moved</c>.
    /// </summary>
    public async Task StoppingAsync(CancellationToken cancellationToken)
    {
        await _leave.CancelAsync().ConfigureAwait(false);
        await _left.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await _leave.CancelAsync().ConfigureAwait(false);
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        if (_watchdog is not null)
        {
            await _watchdog.DisposeAsync().ConfigureAwait(false);
        }
    }

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public override void Dispose()
    {
        _leave.Dispose();
        _losing.Dispose();
        base.Dispose();
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken, _leave.Token);
            await RunAsync(stop.Token).ConfigureAwait(false);
        }
        finally
        {
            _left.TrySetResult();
        }
    }

    private async Task RunAsync(CancellationToken stoppingToken)
    {
        try
        {
            await _migrations.Completed.WaitAsync(stoppingToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return;
        }

        var backoff = TimeSpan.FromMilliseconds(200);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await using var session = await _dataSource.OpenConnectionAsync(stoppingToken).ConfigureAwait(false);
                session.Notification += (_, _) => _wake = true;
                await JoinAsync(session, stoppingToken).ConfigureAwait(false);
                backoff = TimeSpan.FromMilliseconds(200);
                var lastTick = 0L;
                while (!stoppingToken.IsCancellationRequested)
                {
                    if (_wake || lastTick == 0 || _time.GetElapsedTime(lastTick) >= _options.HeartbeatInterval || FenceEnded())
                    {
                        _wake = false;
                        lastTick = _time.GetTimestamp();
                        await TickAsync(session).ConfigureAwait(false);
                    }

                    // Not cancelled by stoppingToken: cancelling a wait would break the session, and the handover needs it.
                    await session.WaitAsync(PollSlice, CancellationToken.None).ConfigureAwait(false);
                }

                await LeaveAsync(session).ConfigureAwait(false);
                return;
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                await LoseAllAsync("the silo stopped before it could hand its models over").ConfigureAwait(false);
                return;
            }
            catch (Exception exception) when (exception is NpgsqlException or TimeoutException or IOException or InvalidOperationException)
            {
                // The session's locks are gone. Its models keep being served (nobody can take one before this silo's last
                // heartbeat is OwnershipTimeout old, when the watchdog stops them) while it reconnects and locks them again.
                Log.SessionLost(_logger, exception, SiloId, backoff.TotalMilliseconds);
                _fenced.Clear();
                try
                {
                    await Task.Delay(backoff, _time, stoppingToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, TimeSpan.FromSeconds(5).Ticks));
            }
        }
    }

    /// <summary>
    /// Takes the member lock; locks again the models still served from before a lost session (one another silo holds
    /// now is dropped at once, before the heartbeat below could delay that silo's start); then registers, which is a
    /// heartbeat. So no silo ever sees this one registered without its lock.
    /// </summary>
    private async Task JoinAsync(NpgsqlConnection session, CancellationToken cancellationToken)
    {
        if (!await ClusterDatabase.ScalarAsync<bool>(session, "SELECT pg_try_advisory_lock(@key)", cancellationToken, ("key", ClusterKeys.SiloLock(SiloId))).ConfigureAwait(false))
        {
            throw new InvalidOperationException($"Another live silo uses the id '{SiloId}'; give each silo its own Dispatcher:Cluster:SiloId.");
        }

        foreach (var model in _ownership.Models)
        {
            if (!await ClusterDatabase.ScalarAsync<bool>(session, "SELECT pg_try_advisory_lock(@key)", cancellationToken, ("key", ClusterKeys.ModelLock(model))).ConfigureAwait(false)
                && _ownership.Remove(model))
            {
                Log.Lost(_logger, model, await EndCallsAsync(model).ConfigureAwait(false), "another silo took it while this one was cut off from the database");
            }
        }

        var sent = _time.GetTimestamp();
        await ClusterDatabase.ExecuteAsync(session, """
            INSERT INTO dispatcher_silos (silo_id, address, status) VALUES (@id, @address, 'active')
            ON CONFLICT (silo_id) DO UPDATE SET address = EXCLUDED.address, status = 'active', heartbeat_at = now()
            """, cancellationToken, ("id", SiloId), ("address", Address)).ConfigureAwait(false);
        _lastHeartbeat = sent;
        await ClusterDatabase.ExecuteAsync(session, $"LISTEN {ClusterDatabase.Channel}", cancellationToken).ConfigureAwait(false);
        await NotifyAsync(session, "joined " + SiloId).ConfigureAwait(false);
        Log.Joined(_logger, SiloId, Address);
    }

    private async Task TickAsync(NpgsqlConnection session)
    {
        var ct = CancellationToken.None; // bounded by the connection's command timeout
        var sent = _time.GetTimestamp();
        await ClusterDatabase.ExecuteAsync(session, "UPDATE dispatcher_silos SET heartbeat_at = now(), status = 'active' WHERE silo_id = @id", ct, ("id", SiloId)).ConfigureAwait(false);
        _lastHeartbeat = sent;

        var held = await ClusterDatabase.ReadHeldLocksAsync(session, ct).ConfigureAwait(false);
        var members = await ClusterDatabase.ReadMembersAsync(session, _options.MemberTimeout, _options.RebalanceDelay, ct).ConfigureAwait(false);
        var live = members.Where(m => ClusterDatabase.IsLive(m, held)).ToList();
        var liveIds = live.ConvertAll(m => m.SiloId);

        foreach (var dead in members.Where(m => m.Status == ClusterDatabase.Active && m.SiloId != SiloId && !liveIds.Contains(m.SiloId)))
        {
            if (await ClusterDatabase.ExecuteAsync(session, "UPDATE dispatcher_silos SET status = 'dead' WHERE silo_id = @id AND status = 'active'", ct, ("id", dead.SiloId)).ConfigureAwait(false) > 0)
            {
                Log.MemberDead(_logger, dead.SiloId);
            }
        }

        if (_time.GetElapsedTime(_lastCleanup) > TimeSpan.FromMinutes(5))
        {
            _lastCleanup = _time.GetTimestamp();
            await ClusterDatabase.ExecuteAsync(session, "DELETE FROM dispatcher_silos WHERE status <> 'active' AND heartbeat_at < now() - interval '1 hour'", ct).ConfigureAwait(false);
        }

        await CompleteFencedAsync(session).ConfigureAwait(false);

        var now = _time.GetUtcNow();
        foreach (var model in _models)
        {
            if (_ownership.Owns(model) || _fenced.ContainsKey(model))
            {
                continue;
            }

            if (held.TryGetValue(ClusterKeys.ModelLock(model), out var holder))
            {
                if (holder != session.ProcessID)
                {
                    _unheldSince.Remove(model);
                    continue;
                }

                // Still locked by this session although no longer served (dropped when the heartbeat was overdue):
                // let it go, then take it like any free model.
                await ClusterDatabase.ScalarAsync<bool>(session, "SELECT pg_advisory_unlock(@key)", ct, ("key", ClusterKeys.ModelLock(model))).ConfigureAwait(false);
            }

            if (!_unheldSince.TryGetValue(model, out var since))
            {
                _unheldSince[model] = since = now;
            }

            if (ClusterKeys.Preferred(model, liveIds) == SiloId || now - since >= _options.TakeoverGrace)
            {
                await TryTakeAsync(session, model).ConfigureAwait(false);
            }
        }

        // One model per heartbeat goes to the stable silo that rendezvous hashing now gives it (a silo that joined).
        foreach (var model in _ownership.Models)
        {
            var target = ClusterKeys.Preferred(model, liveIds);
            if (target is not null && target != SiloId && live.Exists(m => m.SiloId == target && m.Stable))
            {
                await HandOverAsync(session, model, $"rebalanced to {target}").ConfigureAwait(false);
                break;
            }
        }
    }

    /// <summary>
    /// Takes <paramref name="model"/> if its lock is free. When the model's last owner did not hand it over, it may be
    /// alive but cut off from the database, serving on until its heartbeat is <see cref="ClusterOptions.OwnershipTimeout"/>
    /// old: serving here starts only then. Unless that owner is surely gone: nothing listens at its address any more
    /// (its process died), and the model is served again at once.
    /// </summary>
    private async Task TryTakeAsync(NpgsqlConnection session, string model)
    {
        var ct = CancellationToken.None;
        if (!await ClusterDatabase.ScalarAsync<bool>(session, "SELECT pg_try_advisory_lock(@key)", ct, ("key", ClusterKeys.ModelLock(model))).ConfigureAwait(false))
        {
            return;
        }

        var (previous, wait) = await ClusterDatabase.ReadFenceAsync(session, model, SiloId, _options.OwnershipTimeout, ct).ConfigureAwait(false);
        if (wait > TimeSpan.Zero && previous is not null && await ClusterDatabase.NothingListensAtAsync(previous.Address).ConfigureAwait(false))
        {
            Log.PreviousOwnerGone(_logger, model, previous.SiloId, previous.Address);
            wait = TimeSpan.Zero;
        }

        _fenced[model] = _time.GetTimestamp() + (long)(wait.TotalSeconds * _time.TimestampFrequency);
        Log.Taking(_logger, model, wait.TotalMilliseconds);
        await CompleteFencedAsync(session).ConfigureAwait(false);
    }

    private bool FenceEnded()
    {
        var now = _time.GetTimestamp();
        return _fenced.Values.Any(ready => ready <= now);
    }

    /// <summary>Starts serving the models taken whose fence has ended: directory first, then calls are accepted.</summary>
    private async Task CompleteFencedAsync(NpgsqlConnection session)
    {
        var now = _time.GetTimestamp();
        foreach (var (model, ready) in _fenced.Where(f => f.Value <= now).ToList())
        {
            _fenced.Remove(model);
            var epoch = await ClusterDatabase.ScalarAsync<long>(session, """
                INSERT INTO dispatcher_directory (model, silo_id, address, epoch) VALUES (@model, @id, @address, 1)
                ON CONFLICT (model) DO UPDATE SET silo_id = EXCLUDED.silo_id, address = EXCLUDED.address,
                    epoch = dispatcher_directory.epoch + 1, updated_at = now()
                RETURNING epoch
                """, CancellationToken.None, ("model", model), ("id", SiloId), ("address", Address)).ConfigureAwait(false);
            if (_time.GetElapsedTime(_lastHeartbeat) >= _options.OwnershipTimeout)
            {
                throw new TimeoutException("The heartbeat is overdue; not taking models.");
            }

            _ownership.Add(model, epoch);
            _unheldSince.Remove(model);
            await NotifyAsync(session, "took " + model).ConfigureAwait(false);
            Log.Took(_logger, model, epoch);
        }
    }

    /// <summary>Hands a model over: no owner in the directory, every call told <c>moved</c>, grain gone, lock released.</summary>
    private async Task HandOverAsync(NpgsqlConnection session, string model, string reason)
    {
        var ct = CancellationToken.None;
        if (!_ownership.Remove(model))
        {
            return;
        }

        // The entry names no silo until the next owner writes it (keeping the epoch growing); with no previous owner
        // to wait for, the next owner serves at once.
        await ClusterDatabase.ExecuteAsync(session, "UPDATE dispatcher_directory SET silo_id = '', address = '', updated_at = now() WHERE model = @model AND silo_id = @id",
            ct, ("model", model), ("id", SiloId)).ConfigureAwait(false);
        var calls = await EndCallsAsync(model).ConfigureAwait(false);
        await ClusterDatabase.ScalarAsync<bool>(session, "SELECT pg_advisory_unlock(@key)", ct, ("key", ClusterKeys.ModelLock(model))).ConfigureAwait(false);
        await NotifyAsync(session, "released " + model).ConfigureAwait(false);
        Log.HandedOver(_logger, model, calls, reason);
    }

    /// <summary>Graceful stop: excluded from placement first, then every model handed over, then the row removed.</summary>
    private async Task LeaveAsync(NpgsqlConnection session)
    {
        var ct = CancellationToken.None;
        await ClusterDatabase.ExecuteAsync(session, "UPDATE dispatcher_silos SET status = 'leaving' WHERE silo_id = @id", ct, ("id", SiloId)).ConfigureAwait(false);
        await NotifyAsync(session, "leaving " + SiloId).ConfigureAwait(false);
        foreach (var model in _fenced.Keys.ToList())
        {
            _fenced.Remove(model);
            await ClusterDatabase.ScalarAsync<bool>(session, "SELECT pg_advisory_unlock(@key)", ct, ("key", ClusterKeys.ModelLock(model))).ConfigureAwait(false);
        }

        foreach (var model in _ownership.Models)
        {
            await HandOverAsync(session, model, "the silo is stopping").ConfigureAwait(false);
        }

        await ClusterDatabase.ExecuteAsync(session, "DELETE FROM dispatcher_silos WHERE silo_id = @id", ct, ("id", SiloId)).ConfigureAwait(false);
        await NotifyAsync(session, "left " + SiloId).ConfigureAwait(false);
        Log.Left(_logger, SiloId);
    }

    /// <summary>Stops serving every model without the database (its locks are gone, or may be given to another silo).</summary>
    private async Task LoseAllAsync(string reason)
    {
        await _losing.WaitAsync().ConfigureAwait(false);
        try
        {
            foreach (var model in _ownership.Models)
            {
                if (_ownership.Remove(model))
                {
                    var calls = await EndCallsAsync(model).ConfigureAwait(false);
                    Log.Lost(_logger, model, calls, reason);
                }
            }
        }
        finally
        {
            _losing.Release();
        }
    }

    private async Task CheckHeartbeatAsync()
    {
        if (_ownership.Models.Count > 0 && _time.GetElapsedTime(_lastHeartbeat) >= _options.OwnershipTimeout)
        {
            await LoseAllAsync("its heartbeat is overdue").ConfigureAwait(false);
        }
    }

    private async Task<int> EndCallsAsync(string model)
    {
        var calls = 0;
        try
        {
            calls = await _calls.MoveAwayAsync(model, _options.HandoverTimeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            Log.HandoverSlow(_logger, model, _options.HandoverTimeout);
        }

        await _silo.DeactivateAsync<IModelGrain>(model).ConfigureAwait(false);
        return calls;
    }

    private static async Task NotifyAsync(NpgsqlConnection session, string payload) =>
        await ClusterDatabase.ExecuteAsync(session, "SELECT pg_notify(@channel, @payload)", CancellationToken.None, ("channel", ClusterDatabase.Channel), ("payload", payload)).ConfigureAwait(false);

    private static partial class Log
    {
        [LoggerMessage(SiloEventIds.ClusterJoined, LogLevel.Information, "Silo {SiloId} joined the cluster at {Address}")]
        public static partial void Joined(ILogger logger, string siloId, string address);

        [LoggerMessage(SiloEventIds.ClusterTaking, LogLevel.Information, "Model {Model}: lock taken, serving in {WaitMs} ms")]
        public static partial void Taking(ILogger logger, string model, double waitMs);

        [LoggerMessage(SiloEventIds.ClusterPreviousOwnerGone, LogLevel.Information, "Model {Model}: its previous silo {SiloId} is gone (nothing listens at {Address}); serving at once")]
        public static partial void PreviousOwnerGone(ILogger logger, string model, string siloId, string address);

        [LoggerMessage(SiloEventIds.ClusterTook, LogLevel.Information, "Model {Model} now hosted here (epoch {Epoch})")]
        public static partial void Took(ILogger logger, string model, long epoch);

        [LoggerMessage(SiloEventIds.ClusterHandedOver, LogLevel.Information, "Model {Model} handed over ({Calls} open calls told to move): {Reason}")]
        public static partial void HandedOver(ILogger logger, string model, int calls, string reason);

        [LoggerMessage(SiloEventIds.ClusterLost, LogLevel.Warning, "Model {Model} no longer served here ({Calls} open calls told to move): {Reason}")]
        public static partial void Lost(ILogger logger, string model, int calls, string reason);

        [LoggerMessage(SiloEventIds.ClusterMemberDead, LogLevel.Warning, "Silo {SiloId} is dead (its lock or heartbeat is gone)")]
        public static partial void MemberDead(ILogger logger, string siloId);

        [LoggerMessage(SiloEventIds.ClusterSessionLost, LogLevel.Error, "Silo {SiloId}: cluster session lost; reconnecting in {DelayMs} ms")]
        public static partial void SessionLost(ILogger logger, Exception exception, string siloId, double delayMs);

        [LoggerMessage(SiloEventIds.ClusterHandoverSlow, LogLevel.Warning, "Model {Model}: open calls still running after {Timeout}; handing over anyway")]
        public static partial void HandoverSlow(ILogger logger, string model, TimeSpan timeout);

        [LoggerMessage(SiloEventIds.ClusterLeft, LogLevel.Information, "Silo {SiloId} left the cluster")]
        public static partial void Left(ILogger logger, string siloId);
    }
}
