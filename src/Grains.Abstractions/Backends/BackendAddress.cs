namespace Dispatcher.Grains.Abstractions.Backends;

/// <summary>The canonical form of a replica's base address, used as the backend grain's key.</summary>
public static class BackendAddress
{
    /// <summary>
    /// Parses an absolute http or https address and drops a trailing slash, so <c>http://h:8000/</c> and
    /// <c>http://h:8000</c> name the same replica. Returns null when <paramref name="value"/> is not one.
    /// </summary>
    public static Uri? TryNormalize(string? value)
    {
        if (!Uri.TryCreate(value?.Trim(), UriKind.Absolute, out var uri)
            || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps)
            || !string.IsNullOrEmpty(uri.Query) || !string.IsNullOrEmpty(uri.Fragment))
        {
            return null;
        }

        var text = uri.GetLeftPart(UriPartial.Path).TrimEnd('/');
        return new Uri(text, UriKind.Absolute);
    }

    /// <summary>The key of the backend grain for <paramref name="address"/>.</summary>
    public static string Key(Uri address) => address.AbsoluteUri.TrimEnd('/');
}
