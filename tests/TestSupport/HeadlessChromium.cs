using Microsoft.Playwright;

namespace Dispatcher.Testing;

/// <summary>Debian's Chromium (<c>/usr/bin/chromium</c>), headless, driven by Playwright for the dashboard tests: no browser download.</summary>
public static class HeadlessChromium
{
    public static Task<IBrowser> LaunchAsync(IPlaywright playwright) => playwright.Chromium.LaunchAsync(new()
    {
        ExecutablePath = "/usr/bin/chromium",
        Headless = true,
        Args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
}
