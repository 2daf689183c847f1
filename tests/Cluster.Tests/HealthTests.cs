using System.Net;
using System.Text.Json;
using Dispatcher.Testing;

namespace Dispatcher.Cluster.Tests;

/// <summary>The health probes of real silo and Frontend processes while silos and PostgreSQL come and go.</summary>
public sealed class HealthTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(45);

    [Fact]
    public async Task Ready_FollowsTheSilosAndReportsPostgresAsDegraded()
    {
        await using var postgres = await PostgresServer.StartPrivateAsync();
        await using var fleet = await Fleet.StartAsync(postgres, silos: 1, frontends: 1);
        var frontend = fleet.Frontends[0].Address;
        var silo = fleet.Silos[0];
        await ExpectAsync(fleet, frontend, HttpStatusCode.OK, "Healthy", postgres: "Healthy");
        await ExpectAsync(fleet, silo.Management, HttpStatusCode.OK, "Healthy", postgres: "Healthy");

        // The database down: still serving (known tokens keep working), reported as degraded.
        await postgres.StopAsync();
        await ExpectAsync(fleet, frontend, HttpStatusCode.OK, "Degraded", postgres: "Degraded");
        await ExpectAsync(fleet, silo.Management, HttpStatusCode.OK, "Degraded", postgres: "Degraded");
        await postgres.StartAgainAsync();
        await ExpectAsync(fleet, silo.Management, HttpStatusCode.OK, "Healthy", postgres: "Healthy");

        // No silo: the Frontend cannot serve, so it is not ready; a new silo makes it ready again.
        silo.Process.Kill();
        await ExpectAsync(fleet, frontend, HttpStatusCode.ServiceUnavailable, "Unhealthy", postgres: "Healthy");
        using (var live = await new HttpClient().GetAsync($"{frontend}/health/live"))
        {
            Assert.Equal(HttpStatusCode.OK, live.StatusCode); // the process itself is fine: no restart
        }

        await fleet.StartSiloAsync();
        await ExpectAsync(fleet, frontend, HttpStatusCode.OK, "Healthy", postgres: "Healthy");
    }

    /// <summary>Polls <c>/health/ready</c> of <paramref name="process"/> until it answers as expected.</summary>
    private static async Task ExpectAsync(Fleet fleet, string process, HttpStatusCode status, string overall, string postgres)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var last = "";
        var deadline = DateTime.UtcNow + Limit;
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                using var response = await http.GetAsync($"{process}/health/ready");
                last = $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}";
                using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
                if (response.StatusCode == status && json.RootElement.GetProperty("status").GetString() == overall
                    && json.RootElement.GetProperty("checks").GetProperty("postgres").GetProperty("status").GetString() == postgres)
                {
                    return;
                }
            }
            catch (Exception exception) when (exception is HttpRequestException or TaskCanceledException or JsonException)
            {
                last = exception.Message;
            }

            await Task.Delay(250);
        }

        Assert.Fail($"{process}/health/ready never answered {(int)status} {overall} (postgres {postgres}); last: {last}{Environment.NewLine}{fleet.Logs()}");
    }
}
