using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Options;
using Orleans.Connections.Security;

namespace Dispatcher.Silo.Hosting;

/// <summary>Mutual TLS for the cluster's connections from <see cref="ClusterTlsOptions"/>.</summary>
internal static class ClusterTls
{
    /// <summary>
    /// Loads the certificate and the authority and sets Orleans' TLS options: a certificate required on both sides of
    /// every connection, accepted when it chains to the authority.
    /// </summary>
    public static void Configure(TlsOptions tls, ClusterTlsOptions settings)
    {
        var errors = new List<string>();
        Required(errors, settings.CertificatePath, "CertificatePath");
        Required(errors, settings.CaPath, "CaPath");
        if (!string.IsNullOrEmpty(settings.KeyPath))
        {
            Required(errors, settings.KeyPath, "KeyPath");
        }

        if (errors.Count > 0)
        {
            throw new OptionsValidationException(ClusterOptions.SectionName, typeof(ClusterTlsOptions), errors);
        }

        var certificate = X509Certificate2.CreateFromPemFile(settings.CertificatePath!, string.IsNullOrEmpty(settings.KeyPath) ? null : settings.KeyPath);
        var authorities = new X509Certificate2Collection();
        authorities.ImportFromPemFile(settings.CaPath!);
        tls.LocalCertificate = certificate;
        tls.RemoteCertificateMode = RemoteCertificateMode.RequireCertificate;
        tls.ClientCertificateMode = RemoteCertificateMode.RequireCertificate;
        tls.RemoteCertificateValidation = (remote, _, _) => IsIssuedBy(remote, authorities);
    }

    /// <summary>True when <paramref name="certificate"/> chains to one of <paramref name="authorities"/> (and is in date).</summary>
    public static bool IsIssuedBy(X509Certificate2 certificate, X509Certificate2Collection authorities)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(authorities);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        return chain.Build(certificate);
    }

    private static void Required(List<string> errors, string? path, string name)
    {
        if (string.IsNullOrEmpty(path) || !File.Exists(path))
        {
            errors.Add($"{ClusterOptions.SectionName}:Tls:{name} must name a readable PEM file ('{path}' is not one).");
        }
    }
}
