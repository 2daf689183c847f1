using System.Net;
using System.Security.Cryptography;
using System.Text;
using Dispatcher.Grains.Abstractions.Configuration;
using Dispatcher.Grains.Abstractions.Tokens;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Orleans.Dashboard;

namespace Dispatcher.Silo.Dashboard;

/// <summary>
/// The dashboards. <c>GET /dashboard</c> is our live view, a plain HTML page (no build step) polling
/// <c>GET /dashboard/api/state</c> every second: each model's wait list by token and priority, leases, replicas and
/// tokens, across the cluster. <c>/dashboard/orleans/</c> is the Orleans Dashboard (grains, silos, calls, a live log
/// stream). Both need the administrator's token, as a Bearer header or as the session cookie that
/// <c>POST /dashboard/api/session</c> sets from it (a browser cannot add headers to the Orleans Dashboard's own
/// requests); with <see cref="DashboardOptions.Open"/> (the demo) they are open to loopback clients only. With neither
/// a token nor Open configured both are off (404) and the Orleans Dashboard is not even added. Tokens appear by name.
/// </summary>
public static class DashboardApi
{
    /// <summary>Where the Orleans Dashboard is served.</summary>
    public const string OrleansPath = "/dashboard/orleans";

    private const string SessionCookie = "dispatcher_dashboard";

    /// <summary>The <c>Dispatcher:Dashboard</c> section as configured now.</summary>
    public static DashboardOptions Settings(IConfiguration configuration) =>
        configuration.GetSection(DashboardOptions.SectionName).Get<DashboardOptions>() ?? new DashboardOptions();

    /// <summary>Whether the dashboards are served at all: an admin token is configured, or they are open.</summary>
    public static bool IsEnabled(IConfiguration configuration) => Access.From(Settings(configuration)) is not null;

    public static IEndpointRouteBuilder MapDashboard(this IEndpointRouteBuilder endpoints)
    {
        var configuration = endpoints.ServiceProvider.GetRequiredService<IConfiguration>();
        if (Access.From(Settings(configuration)) is not { } access)
        {
            return endpoints; // off: no token to protect it with
        }

        var page = ReadPage();
        endpoints.MapGet("/dashboard", () => Results.Text(page, "text/html; charset=utf-8"));
        endpoints.MapGet("/dashboard/api/state", async (HttpContext context, IGrainFactory grains, IOptions<DispatcherOptions> dispatcher, TimeProvider time) =>
        {
            if (!access.Allows(context))
            {
                return Unauthorized(context);
            }

            // Every configured model, wherever in the cluster its grain runs.
            var models = dispatcher.Value.Models.Select(m => m.Name);
            return Results.Json(await DashboardState.BuildAsync(grains, models, dispatcher.Value, time, context.RequestAborted));
        });
        endpoints.MapPost("/dashboard/api/session", (HttpContext context) =>
        {
            if (!access.AllowsBearer(context))
            {
                return Unauthorized(context);
            }

            context.Response.Cookies.Append(SessionCookie, access.SessionValue, new CookieOptions
            {
                HttpOnly = true,
                SameSite = SameSiteMode.Strict,
                Secure = context.Request.IsHttps,
                Path = "/dashboard",
            });
            return Results.NoContent();
        });

        // Its services were added with the silo or the client (SiloHostingExtensions) under the same condition.
        endpoints.MapOrleansDashboard(OrleansPath).AddEndpointFilter(async (context, next) =>
            access.Allows(context.HttpContext) ? await next(context) : Unauthorized(context.HttpContext));

        return endpoints;
    }

    private static IResult Unauthorized(HttpContext context)
    {
        context.Response.Headers.WWWAuthenticate = "Bearer";
        return Results.Json(new { error = new { message = "The dashboard needs the administrator's token: open /dashboard and enter it.", type = "authentication_error", param = (string?)null, code = "invalid_api_key" } }, statusCode: 401);
    }

    private static string ReadPage()
    {
        using var stream = typeof(DashboardApi).Assembly.GetManifestResourceStream("Dispatcher.Silo.Dashboard.dashboard.html")!;
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    /// <summary>Who may see the dashboards. Secrets are compared as hashes in constant time, never as themselves.</summary>
    private sealed class Access
    {
        private readonly string? _adminHash;
        private readonly bool _openOnLoopback;

        private Access(string? adminHash, bool openOnLoopback)
        {
            _adminHash = adminHash;
            _openOnLoopback = openOnLoopback;

            // The cookie holds a hash of the admin token's hash: it opens the dashboards, but reveals neither.
            SessionValue = adminHash is null ? "" : TokenHash.Compute($"dashboard-session:{adminHash}");
        }

        public string SessionValue { get; }

        public static Access? From(DashboardOptions options)
        {
            var adminHash = options.AdminToken is { Length: > 0 } secret ? TokenHash.Compute(secret) : options.AdminTokenSha256?.ToLowerInvariant();
            return options.Open || adminHash is not null ? new Access(adminHash, options.Open) : null;
        }

        public bool Allows(HttpContext context) =>
            (_openOnLoopback && context.Connection.RemoteIpAddress is { } remote && IPAddress.IsLoopback(remote))
            || AllowsBearer(context)
            || (_adminHash is not null && context.Request.Cookies.TryGetValue(SessionCookie, out var session) && Same(session, SessionValue));

        public bool AllowsBearer(HttpContext context)
        {
            const string scheme = "Bearer ";
            var header = context.Request.Headers.Authorization.ToString();
            return _adminHash is not null && header.StartsWith(scheme, StringComparison.OrdinalIgnoreCase)
                && Same(TokenHash.Compute(header.AsSpan(scheme.Length).Trim()), _adminHash);
        }

        private static bool Same(string given, string expected) =>
            CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(given), Encoding.ASCII.GetBytes(expected));
    }
}
