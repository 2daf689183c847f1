using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Http.Features;

namespace Dispatcher.Frontend.Requests;

/// <summary>
/// Decides whether a request's path may be forwarded to a replica: only a canonical <c>/v1/...</c> path as the
/// client wrote it, made of plain segments (letters, digits and <c>-._~:@</c>), with no percent-encoding, no
/// empty or dot segments and no backslash. Anything else is refused before it could be read differently by
/// a replica (<c>/v1/..%2fmetrics</c>, <c>/v1//metrics</c>, <c>/V1/...</c>, <c>/v1/..\metrics</c>).
/// </summary>
internal static partial class ForwardablePath
{
    [GeneratedRegex("^/v1(/[A-Za-z0-9_~:@-][A-Za-z0-9._~:@-]*)+$", RegexOptions.CultureInvariant)]
    private static partial Regex Canonical();

    public static bool IsForwardable(HttpContext context)
    {
        var raw = context.Features.Get<IHttpRequestFeature>()?.RawTarget ?? context.Request.Path.Value ?? "";
        var query = raw.IndexOf('?', StringComparison.Ordinal);
        var path = query < 0 ? raw : raw[..query];
        return path.Length <= 256 && Canonical().IsMatch(path) && path == context.Request.Path.Value;
    }
}
