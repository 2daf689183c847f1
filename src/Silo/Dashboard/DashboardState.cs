using Dispatcher.Grains.Abstractions.Backends;
using Dispatcher.Grains.Abstractions.Configuration;
using Dispatcher.Grains.Abstractions.Models;
using Dispatcher.Grains.Abstractions.Tokens;

namespace Dispatcher.Silo.Dashboard;

/// <summary>What the dashboard shows, gathered from the grains at one moment. Tokens by name only.</summary>
public sealed record DashboardState(DateTimeOffset At, IReadOnlyList<DashboardState.Model> Models, IReadOnlyList<DashboardState.Token> Tokens)
{
    public sealed record Model(string Name, int Waiting, int InFlight, IReadOnlyList<Replica> Replicas, IReadOnlyList<Waiter> WaitList, IReadOnlyList<Lease> Leases);

    public sealed record Replica(string Address, bool Healthy, int? Running, int? Waiting, double? KvCacheUsage, double? PerUserRate, int Leases);

    public sealed record Waiter(string Token, int Priority, int Count, bool HeldBack);

    public sealed record Lease(string Token, int Priority, string Replica, double AgeSeconds);

    public sealed record Token(string Name, int Priority, int Waiting, int InFlight, long Completed, double Share);

    /// <param name="grains">Where the grains are.</param>
    /// <param name="models">The models to show: those this process hosts (a silo in a cluster shows its own).</param>
    /// <param name="options">The dispatcher's configuration (its tokens are shown even when idle).</param>
    /// <param name="time">The clock.</param>
    /// <param name="cancellationToken">Cancels the reads.</param>
    public static async Task<DashboardState> BuildAsync(IGrainFactory grains, IEnumerable<string> models, DispatcherOptions options, TimeProvider time, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var snapshots = new List<ModelSnapshot>();
        foreach (var model in models)
        {
            snapshots.Add(await grains.GetGrain<IModelGrain>(model).GetSnapshotAsync(cancellationToken));
        }

        // Tokens known to be active now, plus the configured ones.
        var tokenIds = snapshots.SelectMany(s => (s.WaitingByToken ?? []).Select(w => w.TokenId).Concat((s.Leases ?? []).Select(l => l.TokenId)))
            .Concat(options.Tokens.Select(t => string.IsNullOrEmpty(t.Token) ? t.TokenSha256!.ToLowerInvariant() : TokenHash.Compute(t.Token)))
            .ToHashSet(StringComparer.Ordinal);
        var names = new Dictionary<string, (string Name, int Priority)>(StringComparer.Ordinal);
        var counters = new Dictionary<string, TokenCounters>(StringComparer.Ordinal);
        foreach (var id in tokenIds)
        {
            var grain = grains.GetGrain<ITokenGrain>(id);
            var policy = (await grain.GetPolicyAsync(cancellationToken)).Policy;
            names[id] = (policy?.Name ?? TokenHash.DisplayName(id), policy?.Priority ?? 0);
            counters[id] = await grain.GetCountersAsync(cancellationToken);
        }

        double completed = Math.Max(1, counters.Values.Sum(c => c.Completed));
        var shown = snapshots.Select(s => new Model(
            s.Model,
            s.Waiting,
            s.InFlight,
            [.. s.Backends.Select(b => new Replica(BackendAddress.Key(b.Snapshot.Address), b.Snapshot.Healthy, b.Snapshot.Load?.Running, b.Snapshot.Load?.Waiting,
                b.Snapshot.Load?.KvCacheUsage, b.Snapshot.Load?.PerUserRate, b.LeasesInFlight))],
            [.. (s.WaitingByToken ?? []).OrderByDescending(w => w.Priority).Select(w => new Waiter(names[w.TokenId].Name, w.Priority, w.Count, w.HeldBack))],
            [.. (s.Leases ?? []).OrderBy(l => l.GrantedAt).Select(l => new Lease(names[l.TokenId].Name, l.Priority, BackendAddress.Key(l.Backend), (now - l.GrantedAt).TotalSeconds))])).ToList();
        var tokens = counters.Select(p => new Token(names[p.Key].Name, names[p.Key].Priority, p.Value.Waiting, p.Value.InFlight, p.Value.Completed, p.Value.Completed / completed))
            .OrderByDescending(t => t.Priority).ThenBy(t => t.Name, StringComparer.Ordinal).ToList();
        return new DashboardState(now, shown, tokens);
    }
}
