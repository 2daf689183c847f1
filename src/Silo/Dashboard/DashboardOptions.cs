namespace Dispatcher.Silo.Dashboard;

/// <summary>The <c>Dispatcher:Dashboard</c> section: who may see <c>/dashboard</c>.</summary>
public sealed class DashboardOptions
{
    /// <summary>The configuration section name.</summary>
    public const string SectionName = "Dispatcher:Dashboard";

    /// <summary>The administrator's bearer token for the dashboard's data; hashed at start, never kept.</summary>
    public string? AdminToken { get; set; }

    /// <summary>The SHA-256 (lowercase hex) of the administrator's token, instead of <see cref="AdminToken"/>.</summary>
    public string? AdminTokenSha256 { get; set; }

    /// <summary>
    /// No token needed from loopback clients (the demo sets this); others still need <see cref="AdminToken"/>. Default
    /// false: without an admin token the dashboards are off.
    /// </summary>
    public bool Open { get; set; }
}
