using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Dispatcher.Frontend.Demo;
using Dispatcher.Testing;
using Microsoft.Playwright;

namespace Dispatcher.Frontend.Tests.Dashboard;

public sealed class DashboardTests
{
    private const string AdminToken = "admin-secret-for-the-dashboard";

    [Fact]
    public async Task Dashboard_NoAdminTokenConfigured_IsOff()
    {
        await using var host = await DispatcherHost.StartAsync();

        using var page = await host.CreateClient(null).GetAsync("/dashboard");
        using var state = await host.CreateClient(null).GetAsync("/dashboard/api/state");

        Assert.Equal(HttpStatusCode.NotFound, page.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, state.StatusCode);
    }

    [Fact]
    public async Task DashboardState_NeedsTheAdminTokenAndShowsTokensByNameOnly()
    {
        await using var host = await DispatcherHost.StartAsync(capacity: 1, emulator: o => o.StepBase = TimeSpan.FromMilliseconds(20),
            settings: new() { ["Dispatcher:Dashboard:AdminToken"] = AdminToken });
        host.Secrets.Add(AdminToken);
        var holder = host.CreateClient().PostAsync("/v1/chat/completions", DispatcherHost.Json(DispatcherHost.Chat(maxTokens: 60)));
        await Eventually.TrueAsync(async () => (await host.SnapshotAsync()).InFlight == 1, () => "holder not granted");
        var waiter = host.CreateClient(DispatcherHost.LowToken).PostAsync("/v1/chat/completions", DispatcherHost.Json(DispatcherHost.Chat(maxTokens: 2)));
        await Eventually.TrueAsync(async () => (await host.SnapshotAsync()).Waiting == 1, () => "waiter not waiting");

        using (var anonymous = await host.CreateClient(null).GetAsync("/dashboard/api/state"))
        using (var wrong = await host.CreateClient("not-the-admin").GetAsync("/dashboard/api/state"))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
            Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        }

        var json = await host.CreateClient(AdminToken).GetStringAsync("/dashboard/api/state");
        var model = JsonDocument.Parse(json).RootElement.GetProperty("models")[0];
        Assert.Equal(DispatcherHost.Model, model.GetProperty("name").GetString());
        Assert.Equal(1, model.GetProperty("waiting").GetInt32());
        Assert.Equal("low", model.GetProperty("waitList")[0].GetProperty("token").GetString());
        Assert.Equal("high", model.GetProperty("leases")[0].GetProperty("token").GetString());
        Assert.True(model.GetProperty("replicas")[0].GetProperty("healthy").GetBoolean());
        Assert.DoesNotContain(DispatcherHost.HighToken, json, StringComparison.Ordinal);
        Assert.DoesNotContain(DispatcherHost.LowToken, json, StringComparison.Ordinal);

        (await holder).Dispose();
        (await waiter).Dispose();
    }

    [Fact]
    public async Task OrleansDashboard_NeedsTheAdminTokenOrTheSessionItsPageOpens()
    {
        await using var host = await DispatcherHost.StartAsync(settings: new() { ["Dispatcher:Dashboard:AdminToken"] = AdminToken });
        host.Secrets.Add(AdminToken);

        foreach (var path in new[] { "/dashboard/orleans/", "/dashboard/orleans/index.min.js", "/dashboard/orleans/DashboardCounters", "/dashboard/orleans/Trace" })
        {
            using var anonymous = await host.CreateClient(null).GetAsync(path);
            Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode); // loopback is not enough without Open
        }

        using (var served = await host.CreateClient().PostAsync("/v1/chat/completions", DispatcherHost.Json(DispatcherHost.Chat(maxTokens: 2))))
        {
            served.EnsureSuccessStatusCode();
        }

        var counters = "";
        await Eventually.TrueAsync(async () =>
        {
            counters = await host.CreateClient(AdminToken).GetStringAsync("/dashboard/orleans/DashboardCounters");
            return counters.Contains("ModelGrain", StringComparison.Ordinal);
        }, () => $"the Orleans Dashboard does not show the model grain: {counters}");

        // A browser: the page trades the token for a session cookie, which then opens both dashboards.
        var cookies = new CookieContainer();
        using var browser = new HttpClient(new HttpClientHandler { CookieContainer = cookies }) { BaseAddress = host.BaseAddress };
        using (var wrong = new HttpRequestMessage(HttpMethod.Post, "/dashboard/api/session") { Headers = { Authorization = new AuthenticationHeaderValue("Bearer", "not-the-admin") } })
        using (var refused = await browser.SendAsync(wrong))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
            Assert.Empty(cookies.GetAllCookies());
        }

        using (var login = new HttpRequestMessage(HttpMethod.Post, "/dashboard/api/session") { Headers = { Authorization = new AuthenticationHeaderValue("Bearer", AdminToken) } })
        using (var session = await browser.SendAsync(login))
        {
            Assert.Equal(HttpStatusCode.NoContent, session.StatusCode);
            var cookie = Assert.Single(cookies.GetAllCookies());
            Assert.True(cookie.HttpOnly);
            Assert.DoesNotContain(AdminToken, cookie.Value, StringComparison.Ordinal);
            Assert.NotEqual(Grains.Abstractions.Tokens.TokenHash.Compute(AdminToken), cookie.Value);
        }

        using (var page = await browser.GetAsync("/dashboard/orleans/"))
        using (var state = await browser.GetAsync("/dashboard/api/state"))
        {
            Assert.Equal(HttpStatusCode.OK, page.StatusCode);
            Assert.Equal(HttpStatusCode.OK, state.StatusCode);
        }
    }

    [Fact]
    public async Task Dashboard_InChromium_ShowsTheDemoModelReplicasAndAWaitingRequest()
    {
        var builder = WebApplication.CreateBuilder();
        builder.Configuration["urls"] = "http://127.0.0.1:0";
        builder.Configuration["Dispatcher:Cluster:SiloPort"] = FreePort.Next().ToString(CultureInfo.InvariantCulture);
        builder.Configuration["Dispatcher:Cluster:GatewayPort"] = FreePort.Next().ToString(CultureInfo.InvariantCulture);
        await using var demo = await DemoFleet.StartIfUnconfiguredAsync(builder.Configuration);
        builder.AddDispatcherFrontend();
        await using var app = builder.Build();
        app.MapDispatcherFrontend();
        await app.StartAsync();
        var url = app.Urls.First().TrimEnd('/');
        using var http = new HttpClient { BaseAddress = new Uri(url) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", builder.Configuration["Dispatcher:Tokens:1:Token"]);
        using var stop = new CancellationTokenSource();
        var load = Enumerable.Range(0, 12).Select(_ => Task.Run(async () =>
        {
            try
            {
                using var response = await http.PostAsync("/v1/chat/completions",
                    DispatcherHost.Json(DispatcherHost.Chat(model: DemoFleet.ModelName, maxTokens: 3000, stream: true)), stop.Token);
                await response.Content.CopyToAsync(Stream.Null, stop.Token);
            }
            catch (OperationCanceledException)
            {
            }
        })).ToList();

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await HeadlessChromium.LaunchAsync(playwright);
        var page = await browser.NewPageAsync(new() { ViewportSize = new() { Width = 1280, Height = 1000 } });
        await page.GotoAsync($"{url}/dashboard");

        await page.Locator($"[data-model='{DemoFleet.ModelName}']").WaitForAsync();
        var replica = builder.Configuration["Dispatcher:Models:0:Backends:0"]!.TrimEnd('/');
        await page.GetByText(replica).First.WaitForAsync();
        await page.WaitForFunctionAsync("() => Number(document.querySelector('[data-testid=waiting]')?.textContent) > 0");
        await page.GetByText("demo-low").First.WaitForAsync();
        Directory.CreateDirectory(Path.Combine(AppContext.BaseDirectory, "artifacts"));
        await page.ScreenshotAsync(new() { Path = Path.Combine(AppContext.BaseDirectory, "artifacts", "dashboard.png"), FullPage = true });

        // Its link opens the Orleans Dashboard (open on loopback in the demo, as ours), which lists our grain types.
        await page.Locator("#orleans").ClickAsync();
        await page.GetByText("Grains", new() { Exact = true }).First.ClickAsync();
        await page.GetByText("ModelGrain").First.WaitForAsync(new() { Timeout = 30_000 });
        await page.ScreenshotAsync(new() { Path = Path.Combine(AppContext.BaseDirectory, "artifacts", "orleans-dashboard.png"), FullPage = true });

        await stop.CancelAsync();
        await Task.WhenAll(load);
        await app.StopAsync();
    }
}
