using System.Security.Cryptography;

namespace Dispatcher.Silo.Cluster;

/// <summary>Fills in what a silo's configuration leaves out: its id and the address others reach it at.</summary>
internal static class ClusterDefaults
{
    public static void Apply(ClusterOptions options)
    {
        options.SiloId ??= $"{Environment.MachineName.ToLowerInvariant()}-{RandomNumberGenerator.GetHexString(6, lowercase: true)}";
        if (options.AdvertisedAddress is null && Uri.TryCreate(options.InternalUrl, UriKind.Absolute, out var internalUrl))
        {
            var host = internalUrl.Host is "0.0.0.0" or "[::]" or "::" or "*" or "+" ? Environment.MachineName.ToLowerInvariant() : internalUrl.Host;
            options.AdvertisedAddress = $"{internalUrl.Scheme}://{host}:{internalUrl.Port}";
        }

        options.AdvertisedAddress = options.AdvertisedAddress?.TrimEnd('/');
    }

    public static bool IsHttpUrl(string? value) =>
        Uri.TryCreate(value, UriKind.Absolute, out var uri) && uri.Scheme == Uri.UriSchemeHttp;
}
