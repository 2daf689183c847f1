using System.Diagnostics;
using System.Globalization;
using Dispatcher.Testing;

namespace Dispatcher.Cluster.Tests;

/// <summary>
/// The cluster as real processes under streaming load (see <see cref="Fleet"/>): a silo killed, a Frontend killed,
/// every silo restarted in turn, the last silo killed under waiting requests. Nothing is lost, nothing is served
/// twice, nothing stays held, and no request waits on a call nobody will answer.
/// </summary>
public sealed class FailoverTests
{
    [Fact]
    public async Task KillSilo_HostingTheModelThenStartOneAgain_EveryRequestCompletesOnceAndNothingIsLeftHeld()
    {
        await using var fleet = await Fleet.StartAsync(silos: 3, frontends: 2);
        using var stop = new CancellationTokenSource();
        var clients = fleet.Load(12, stop.Token); // more than the 8 leases the replicas take, so some wait
        clients.AddRange(fleet.Noise(stop.Token)); // bad requests and clients going away mid-stream, mixed in

        await Task.Delay(TimeSpan.FromSeconds(3));
        var hosting = await Fleet.HostOfModelAsync(fleet.Silos[0]);
        var victim = fleet.Silos.Single(s => s.Endpoint == hosting);
        var served = fleet.Statuses.Count;
        var killed = Stopwatch.StartNew();
        victim.Process.Kill();
        var survivor = fleet.Silos.First(s => s != victim);

        await Eventually.TrueAsync(() => fleet.Statuses.Count > served + 12, () => $"nothing served after the kill: {string.Join(" | ", fleet.Statuses.Take(5))}");
        var servedAgain = killed.Elapsed;

        // Then started again (as Kubernetes replaces a pod: a new process on new ports) while the load goes on.
        await Task.Delay(TimeSpan.FromSeconds(2));
        await fleet.StartSiloAsync();
        var beforeRejoin = fleet.Statuses.Count;
        await Task.Delay(TimeSpan.FromSeconds(3));
        Assert.True(fleet.Statuses.Count > beforeRejoin + 12, "hardly anything served after the silo came back");
        await stop.CancelAsync();
        await fleet.WaitAsync(clients);

        fleet.AssertEveryRequestServedOnce();
        fleet.AssertNoiseAnswered();
        // Leases running at the kill were adopted by the new activation, then released or taken back by the holder expiry.
        await Fleet.AssertNothingHeldAsync(survivor, TimeSpan.FromSeconds(30));
        var report = string.Create(CultureInfo.InvariantCulture,
            $"silo kill: {fleet.Statuses.Count} requests, 0 failed, none twice, nothing held; served again {servedAgain.TotalSeconds:0.00} s after SIGKILL of the hosting silo, and on while a new silo joined; mixed in: bad requests (each got its 4xx) and {fleet.Abandoned} streams abandoned by their clients");
        await File.WriteAllTextAsync(Path.Combine(AppContext.BaseDirectory, "silo-kill-report.txt"), report + Environment.NewLine);
    }

    [Fact]
    public async Task KillFrontend_HoldingLeases_ItsLeasesAreTakenBackWithinTheHolderExpiry()
    {
        await using var fleet = await Fleet.StartAsync(silos: 2, frontends: 2);
        var victim = fleet.Frontends[0];

        // Long streams through the victim hold all 8 leases.
        using var cut = new CancellationTokenSource();
        var held = Enumerable.Range(0, 8).Select(_ => fleet.StreamAsync(victim, 4000, cut.Token)).ToList();
        await Eventually.TrueAsync(() => fleet.Replicas.Sum(r => r.RequestIds.Count) == 8, () => "the long streams never all started");

        var survivor = fleet.Frontends[1];
        var killed = Stopwatch.StartNew();
        victim.Process.Kill();
        await cut.CancelAsync();
        await Task.WhenAll(held);

        // While the dead Frontend's leases are held, bad requests and clients that wait then go away come to the other.
        using (var noisy = new CancellationTokenSource(TimeSpan.FromSeconds(5)))
        {
            await fleet.WaitAsync(fleet.Noise(noisy.Token, through: survivor));
        }

        var abandonedWhileHeld = fleet.Abandoned;

        // The other Frontend is served once the dead one's leases are back (its streams still run in vLLM until then).
        await Fleet.AssertNothingHeldAsync(fleet.Silos[0], TimeSpan.FromSeconds(15));
        var freed = killed.Elapsed;
        using var stop = new CancellationTokenSource();
        var clients = fleet.Load(4, stop.Token, _ => survivor);
        clients.AddRange(fleet.Noise(stop.Token, through: survivor));
        await Eventually.TrueAsync(() => fleet.Statuses.Count >= 12, () => "the surviving Frontend is not served");
        await stop.CancelAsync();
        await fleet.WaitAsync(clients);

        fleet.AssertEveryRequestServedOnce(cutByTheFault: held.Count);
        fleet.AssertNoiseAnswered();
        Assert.True(abandonedWhileHeld > 5, $"only {abandonedWhileHeld} clients went away while the dead Frontend's leases were held");
        Assert.True(freed < TimeSpan.FromSeconds(15), $"leases taken back after {freed.TotalSeconds:0.0} s");
        await Fleet.AssertNothingHeldAsync(fleet.Silos[0], TimeSpan.FromSeconds(30));
        var report = string.Create(CultureInfo.InvariantCulture,
            $"frontend kill: its 8 streams cut with it, their 8 leases back {freed.TotalSeconds:0.0} s after SIGKILL; then {fleet.Statuses.Count} requests through the other Frontend, 0 failed, none twice, nothing held; mixed in: bad requests (each got its 4xx) and {fleet.Abandoned} streams abandoned by their clients ({abandonedWhileHeld} while the dead Frontend's leases were held)");
        await File.WriteAllTextAsync(Path.Combine(AppContext.BaseDirectory, "frontend-kill-report.txt"), report + Environment.NewLine);
    }

    [Fact]
    public async Task KillEverySilo_RequestsWaiting_AnsweredUnavailableWithinTheFailoverTimeout()
    {
        await using var fleet = await Fleet.StartAsync(1, 1, "--Dispatcher:Cluster:FailoverTimeout=00:00:05");
        var frontend = fleet.Frontends[0];

        // Long streams hold all 8 leases, so the next two requests wait at the model grain.
        using var cut = new CancellationTokenSource();
        var held = Enumerable.Range(0, 8).Select(_ => fleet.StreamAsync(frontend, 4000, cut.Token)).ToList();
        await Eventually.TrueAsync(() => fleet.Replicas.Sum(r => r.RequestIds.Count) == 8, () => "the long streams never all started");
        var waiting = Enumerable.Range(0, 2).Select(_ => fleet.StreamAsync(frontend, 8, CancellationToken.None)).ToList();
        await Task.Delay(TimeSpan.FromSeconds(2)); // past the first renewal that lists them

        var killed = Stopwatch.StartNew();
        fleet.Silos[0].Process.Kill();
        var answers = await Task.WhenAll(waiting).WaitAsync(TimeSpan.FromSeconds(30));
        var answered = killed.Elapsed;
        await cut.CancelAsync();
        await Task.WhenAll(held);

        Assert.All(answers, a => Assert.StartsWith("503 ", a, StringComparison.Ordinal));
        Assert.All(answers, a => Assert.Contains("dispatcher_unavailable", a, StringComparison.Ordinal));
        Assert.True(answered < TimeSpan.FromSeconds(15), $"answered {answered.TotalSeconds:0.0} s after the last silo died (failover timeout 5 s)");
    }

    [Fact]
    public async Task RollingRestart_EverySiloStoppedInTurn_NoClientSeesAnError()
    {
        await using var fleet = await Fleet.StartAsync(silos: 2, frontends: 2);
        using var stop = new CancellationTokenSource();
        var clients = fleet.Load(12, stop.Token);
        clients.AddRange(fleet.Noise(stop.Token)); // bad requests and clients going away mid-stream, mixed in
        var rolling = Stopwatch.StartNew();

        foreach (var old in fleet.Silos.ToList())
        {
            await fleet.StartSiloAsync();
            await Task.Delay(TimeSpan.FromSeconds(2));
            await old.Process.StopAsync(TimeSpan.FromSeconds(60)); // SIGTERM: a graceful stop
            await Task.Delay(TimeSpan.FromSeconds(2));
        }

        await stop.CancelAsync();
        await fleet.WaitAsync(clients);

        fleet.AssertEveryRequestServedOnce();
        fleet.AssertNoiseAnswered();
        await Fleet.AssertNothingHeldAsync(fleet.Silos[^1], TimeSpan.FromSeconds(30));
        var report = string.Create(CultureInfo.InvariantCulture,
            $"rolling restart: both silos replaced in turn (SIGTERM) in {rolling.Elapsed.TotalSeconds:0.0} s under load; {fleet.Statuses.Count} requests, 0 failed, none twice, nothing held; mixed in: bad requests (each got its 4xx) and {fleet.Abandoned} streams abandoned by their clients");
        await File.WriteAllTextAsync(Path.Combine(AppContext.BaseDirectory, "rolling-restart-report.txt"), report + Environment.NewLine);
    }
}
