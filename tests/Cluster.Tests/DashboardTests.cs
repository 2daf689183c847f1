using Dispatcher.Testing;
using Microsoft.Playwright;

namespace Dispatcher.Cluster.Tests;

/// <summary>Both dashboards of a Frontend in client mode, in headless Chromium, on a two-silo cluster.</summary>
public sealed class DashboardTests
{
    [Fact]
    public async Task Dashboards_TwoSilos_ShowTheWaitingRequestByTokenNameAndOurGrainTypes()
    {
        await using var fleet = await Fleet.StartAsync(silos: 2, frontends: 1);
        var frontend = fleet.Frontends[0];
        using var stop = new CancellationTokenSource();
        var streams = Enumerable.Range(0, 10).Select(_ => fleet.StreamAsync(frontend, 4000, stop.Token)).ToList(); // 8 leases, 2 wait

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await HeadlessChromium.LaunchAsync(playwright);
        var page = await browser.NewPageAsync(new() { ViewportSize = new() { Width = 1280, Height = 1000 } });
        var artifacts = Path.Combine(AppContext.BaseDirectory, "artifacts");
        Directory.CreateDirectory(artifacts);
        try
        {
            // Ours, served by the Frontend, gathers the model grain's state from whichever silo holds it.
            await page.GotoAsync($"{frontend.Address}/dashboard");
            await page.Locator($"[data-model='{Fleet.Model}']").WaitForAsync();
            await page.WaitForFunctionAsync("() => Number(document.querySelector('[data-testid=waiting]')?.textContent) === 2", null, new() { Timeout = 30_000 });
            await page.WaitForFunctionAsync("() => Number(document.querySelector('[data-testid=in-flight]')?.textContent) === 8", null, new() { Timeout = 30_000 });
            await page.Locator($"[data-model='{Fleet.Model}'] td", new() { HasText = "cluster-test" }).First.WaitForAsync();
            await page.ScreenshotAsync(new() { Path = Path.Combine(artifacts, "cluster-dashboard.png"), FullPage = true });

            // The Orleans Dashboard through the same Frontend: both silos and our grain types.
            await page.Locator("#orleans").ClickAsync();
            await page.GetByText("Grains", new() { Exact = true }).First.ClickAsync();
            await page.GetByText("ModelGrain").First.WaitForAsync(new() { Timeout = 30_000 });
            await page.GetByText("Silos", new() { Exact = true }).First.ClickAsync();
            foreach (var silo in fleet.Silos)
            {
                await page.GetByText(silo.Endpoint).First.WaitForAsync(new() { Timeout = 30_000 });
            }

            await page.ScreenshotAsync(new() { Path = Path.Combine(artifacts, "cluster-orleans-dashboard.png"), FullPage = true });
        }
        catch (TimeoutException exception)
        {
            await page.ScreenshotAsync(new() { Path = Path.Combine(artifacts, "cluster-dashboard-failure.png"), FullPage = true });
            Assert.Fail($"{exception.Message}{Environment.NewLine}{fleet.Logs()}");
        }

        await stop.CancelAsync();
        await Task.WhenAll(streams);
        await Fleet.AssertNothingHeldAsync(fleet.Silos[0], TimeSpan.FromSeconds(20));
    }
}
