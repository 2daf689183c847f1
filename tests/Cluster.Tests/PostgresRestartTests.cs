using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Dispatcher.Silo.Tokens;
using Dispatcher.Testing;
using Npgsql;

namespace Dispatcher.Cluster.Tests;

/// <summary>
/// PostgreSQL (the cluster's membership and the token store) stopped and started again while two silos and two
/// Frontends serve streaming load: known tokens keep working, tokens never seen get 503 (never 401), and the cluster
/// recovers by itself.
/// </summary>
public sealed class PostgresRestartTests
{
    private const string UnseenToken = "sk-cluster-unseen-0123456789";
    private const string NeverIssuedToken = "sk-cluster-never-issued-0123456789";

    [Fact]
    public async Task PostgresRestarted_UnderLoad_KnownTokensKeepWorkingUnseenOnesGet503AndTheClusterRecovers()
    {
        await using var postgres = await PostgresServer.StartPrivateAsync();
        // A known token's cached policy expires every second, so the outage is met by lookups of known tokens too.
        await using var fleet = await Fleet.StartAsync(postgres, silos: 2, frontends: 2, "--Dispatcher:TokenStore:CacheTtl=00:00:01");
        await using (var dataSource = NpgsqlDataSource.Create(fleet.Database))
        {
            await new TokenAdmin(dataSource).PutAsync("unseen", UnseenToken, 5, 10, null, CancellationToken.None);
        }

        using var stop = new CancellationTokenSource();
        var clients = fleet.Load(6, stop.Token);
        clients.AddRange(fleet.Noise(stop.Token)); // bad requests and clients going away mid-stream, mixed in
        await Task.Delay(TimeSpan.FromSeconds(2));

        await postgres.StopAsync();
        var outage = Stopwatch.StartNew();
        var servedBefore = fleet.Statuses.Count;
        var duringOutage = new List<string>();
        foreach (var frontend in fleet.Frontends)
        {
            duringOutage.Add(await AskAsync(fleet, frontend, UnseenToken));
            duringOutage.Add(await AskAsync(fleet, frontend, NeverIssuedToken));
        }

        var rest = TimeSpan.FromSeconds(5) - outage.Elapsed;
        if (rest > TimeSpan.Zero)
        {
            await Task.Delay(rest);
        }

        var servedDuringOutage = fleet.Statuses.Count - servedBefore;
        var downFor = outage.Elapsed;
        await postgres.StartAgainAsync();
        var restarted = Stopwatch.StartNew();
        foreach (var frontend in fleet.Frontends)
        {
            var last = "";
            await Eventually.TrueAsync(async () => (last = await AskAsync(fleet, frontend, UnseenToken)) == "ok",
                () => $"the token never seen before the outage is still refused after it: {last}{Environment.NewLine}{fleet.Logs()}");
        }

        var recovered = restarted.Elapsed;
        await Task.Delay(TimeSpan.FromSeconds(1));
        await stop.CancelAsync();
        await fleet.WaitAsync(clients);

        var wrong = duringOutage.Where(a => !(a.StartsWith("503 ", StringComparison.Ordinal) && a.Contains("\"code\":\"token_store_unavailable\"", StringComparison.Ordinal))).ToList();
        Assert.True(wrong.Count == 0, $"during the outage, tokens the dispatcher could not vouch for got: {string.Join(" | ", wrong)}");
        Assert.True(servedDuringOutage > 6, $"the known token was hardly served while PostgreSQL was down: {servedDuringOutage}");
        fleet.AssertEveryRequestServedOnce(); // the known token's load: no error at all, none twice
        fleet.AssertNoiseAnswered();
        foreach (var silo in fleet.Silos)
        {
            await Fleet.AssertNothingHeldAsync(silo, TimeSpan.FromSeconds(30));
        }

        var report = string.Create(CultureInfo.InvariantCulture,
            $"postgres restart: {fleet.Statuses.Count} requests served, 0 failed, none twice, nothing held; {servedDuringOutage} served in the {downFor.TotalSeconds:0.0} s it was down; {duringOutage.Count} requests with an unseen or a never-issued token answered 503 token_store_unavailable during it (none 401); the unseen token served {recovered.TotalSeconds:0.0} s after it came back; mixed in: bad requests (each got its 4xx) and {fleet.Abandoned} streams abandoned by their clients");
        await File.WriteAllTextAsync(Path.Combine(AppContext.BaseDirectory, "postgres-restart-report.txt"), report + Environment.NewLine);
    }

    /// <summary>
    /// One short chat completion with <paramref name="token"/>: "ok" (counted in the fleet's statuses, as it reached a
    /// replica) or the status and body.
    /// </summary>
    private static async Task<string> AskAsync(Fleet fleet, Fleet.Frontend frontend, string token)
    {
        using var http = new HttpClient { BaseAddress = new Uri(frontend.Address), Timeout = TimeSpan.FromSeconds(30) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var content = new StringContent($"{{\"model\":\"{Fleet.Model}\",\"messages\":[{{\"role\":\"user\",\"content\":\"Hi\"}}],\"max_tokens\":2}}", Encoding.UTF8, "application/json");
        using var response = await http.PostAsync("/v1/chat/completions", content);
        var body = await response.Content.ReadAsStringAsync();
        if (response.StatusCode == HttpStatusCode.OK)
        {
            fleet.Statuses.Add("ok");
            return "ok";
        }

        return $"{(int)response.StatusCode} {body}";
    }
}
