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

namespace Dispatcher.Silo.Dashboard;

/// <summary>
/// The read-only inspection dashboard: <c>GET /dashboard</c> is a plain HTML page (no build step) that polls
/// <c>GET /dashboard/api/state</c> every second. The data needs the administrator's token (Bearer) unless the
/// dashboard is open (the demo); with neither configured the dashboard is off (404). Tokens appear by name.
/// </summary>
public static class DashboardApi
{
    public static IEndpointRouteBuilder MapDashboard(this IEndpointRouteBuilder endpoints)
    {
        var options = endpoints.ServiceProvider.GetRequiredService<IConfiguration>().GetSection(DashboardOptions.SectionName).Get<DashboardOptions>() ?? new DashboardOptions();
        var adminHash = options.AdminToken is { Length: > 0 } secret ? TokenHash.Compute(secret) : options.AdminTokenSha256?.ToLowerInvariant();
        if (!options.Open && adminHash is null)
        {
            return endpoints; // off: no token to protect it with
        }

        var page = ReadPage();
        endpoints.MapGet("/dashboard", () => Results.Text(page, "text/html; charset=utf-8"));
        endpoints.MapGet("/dashboard/api/state", async (HttpContext context, IGrainFactory grains, IOptions<DispatcherOptions> dispatcher, TimeProvider time) =>
        {
            if (!options.Open && !Authorized(context.Request.Headers.Authorization.ToString(), adminHash!))
            {
                context.Response.Headers.WWWAuthenticate = "Bearer";
                return Results.Json(new { error = new { message = "The dashboard needs the administrator's token.", type = "authentication_error", param = (string?)null, code = "invalid_api_key" } }, statusCode: 401);
            }

            // Every configured model, wherever in the cluster its grain runs.
            var models = dispatcher.Value.Models.Select(m => m.Name);
            return Results.Json(await DashboardState.BuildAsync(grains, models, dispatcher.Value, time, context.RequestAborted));
        });
        return endpoints;
    }

    private static bool Authorized(string header, string adminHash)
    {
        const string scheme = "Bearer ";
        if (!header.StartsWith(scheme, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        // Compare hashes in constant time: the secret itself is never compared.
        var given = Encoding.ASCII.GetBytes(TokenHash.Compute(header.AsSpan(scheme.Length).Trim()));
        return CryptographicOperations.FixedTimeEquals(given, Encoding.ASCII.GetBytes(adminHash));
    }

    private static string ReadPage()
    {
        using var stream = typeof(DashboardApi).Assembly.GetManifestResourceStream("Dispatcher.Silo.Dashboard.dashboard.html")!;
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
