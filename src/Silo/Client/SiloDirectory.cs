using Dispatcher.Silo.Remote;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Dispatcher.Silo.Client;

/// <summary>
/// The Frontend's cache of the cluster view: which silo hosts each model, and which silos are live. Filled from any
/// silo (<see cref="SiloProtocol.ClusterPath"/>); refreshed when a call finds the cache wrong, one request at a time
/// for every caller that failed before it started, so a failover costs one read per Frontend, not one per request.
/// Thread-safe.
/// </summary>
internal sealed partial class SiloDirectory(SiloConnection http, IOptions<RemoteSiloOptions> options, TimeProvider time, ILogger<SiloDirectory> logger)
{
    private static readonly TimeSpan FirstRetry = TimeSpan.FromMilliseconds(50);
    private static readonly TimeSpan LastRetry = TimeSpan.FromMilliseconds(500);
    private readonly Lock _gate = new();
    private readonly IReadOnlyList<string> _seeds = [.. options.Value.Addresses.Select(a => a.TrimEnd('/'))];
    private Dictionary<string, ModelOwner> _owners = new(StringComparer.Ordinal);
    private IReadOnlyList<SiloMember> _silos = [];
    private Task? _refresh;
    private long _refreshStarted = long.MinValue;
    private string? _lastGood;

    /// <summary>Live silo addresses as last seen (the configured ones before the first view).</summary>
    public IReadOnlyList<string> Silos
    {
        get
        {
            var silos = _silos;
            return silos.Count > 0 ? [.. silos.Select(s => s.Address)] : _seeds;
        }
    }

    /// <summary>Live silos with their ids as last seen.</summary>
    public IReadOnlyList<SiloMember> Members => _silos;

    /// <summary>The model's owner as last seen, or null.</summary>
    public ModelOwner? Owner(string model) => _owners.GetValueOrDefault(model);

    /// <summary>
    /// The model's owner according to a view read after <paramref name="failedAt"/> (a <see cref="TimeProvider"/>
    /// timestamp; 0 when the cache will do). While no silo hosts the model, reads again with backoff for up to
    /// <paramref name="patience"/>; null if none does by then.
    /// </summary>
    public async Task<ModelOwner?> ResolveAsync(string model, long failedAt, TimeSpan patience, CancellationToken cancellationToken)
    {
        if (failedAt == 0 && Owner(model) is { } cached)
        {
            return cached;
        }

        var started = time.GetTimestamp();
        var delay = FirstRetry;
        while (true)
        {
            await RefreshAsync(Math.Max(failedAt, 1), cancellationToken).ConfigureAwait(false);
            if (Owner(model) is { } owner)
            {
                return owner;
            }

            var left = patience - time.GetElapsedTime(started);
            if (left <= TimeSpan.Zero)
            {
                return null;
            }

            await Task.Delay(delay < left ? delay : left, time, cancellationToken).ConfigureAwait(false);
            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, LastRetry.Ticks));
            failedAt = time.GetTimestamp();
        }
    }

    /// <summary>Reads the view unless a read that started at or after <paramref name="notBefore"/> is running or done.</summary>
    public Task RefreshAsync(long notBefore, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (_refresh is null || _refreshStarted < notBefore && _refresh.IsCompleted)
            {
                _refreshStarted = time.GetTimestamp();
                _refresh = ReadAsync();
            }
            else if (_refreshStarted < notBefore)
            {
                // One is running but started too early: chain a new one after it.
                var previous = _refresh;
                _refreshStarted = time.GetTimestamp();
                _refresh = previous.ContinueWith(_ => ReadAsync(), CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default).Unwrap();
            }

            return _refresh.WaitAsync(cancellationToken);
        }
    }

    /// <summary>Asks the silo that answered last, then every other known one, until one answers.</summary>
    private async Task ReadAsync()
    {
        var candidates = new List<string>();
        if (_lastGood is not null)
        {
            candidates.Add(_lastGood);
        }

        candidates.AddRange(Silos.Concat(_seeds).Where(s => !candidates.Contains(s)).Distinct());
        foreach (var silo in candidates)
        {
            try
            {
                if (await http.GetAsync<ClusterView>(silo, SiloProtocol.ClusterPath, CancellationToken.None).ConfigureAwait(false) is { } view)
                {
                    _owners = view.Models.ToDictionary(m => m.Model, StringComparer.Ordinal);
                    _silos = view.Silos;
                    _lastGood = silo;
                    return;
                }
            }
            catch (Exception exception) when (exception is HttpRequestException or IOException or OperationCanceledException or InvalidOperationException or System.Text.Json.JsonException)
            {
                Log.ViewUnavailable(logger, silo, exception.Message);
            }
        }

        Log.NoSilo(logger, candidates.Count);
    }

    private static partial class Log
    {
        [LoggerMessage(SiloEventIds.ClientViewUnavailable, LogLevel.Debug, "Silo {Silo} did not give the cluster view: {Reason}")]
        public static partial void ViewUnavailable(ILogger logger, string silo, string reason);

        [LoggerMessage(SiloEventIds.ClientNoSilo, LogLevel.Warning, "None of the {Count} known silos answered with the cluster view")]
        public static partial void NoSilo(ILogger logger, int count);
    }
}
