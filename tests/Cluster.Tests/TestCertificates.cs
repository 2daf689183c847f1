using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Dispatcher.Cluster.Tests;

/// <summary>
/// A certificate authority and one certificate it issued (server and client authentication), as the PEM files of a
/// Kubernetes TLS Secret (<c>ca.crt</c>, <c>tls.crt</c>, <c>tls.key</c>) in a temporary folder deleted at dispose.
/// </summary>
internal sealed class TestCertificates : IDisposable
{
    private TestCertificates(string directory) => Directory = directory;

    public string Directory { get; }

    public string CaPath => Path.Combine(Directory, "ca.crt");

    public string CertificatePath => Path.Combine(Directory, "tls.crt");

    public string KeyPath => Path.Combine(Directory, "tls.key");

    /// <summary>The settings that give a dispatcher process these files.</summary>
    public string[] Settings =>
        [$"--Dispatcher:Cluster:Tls:CertificatePath={CertificatePath}", $"--Dispatcher:Cluster:Tls:KeyPath={KeyPath}", $"--Dispatcher:Cluster:Tls:CaPath={CaPath}"];

    public static TestCertificates Create(string authority)
    {
        var now = DateTimeOffset.UtcNow;
        using var authorityKey = RSA.Create(2048);
        var authorityRequest = new CertificateRequest($"CN={authority}", authorityKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        authorityRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        authorityRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        using var ca = authorityRequest.CreateSelfSigned(now.AddDays(-1), now.AddDays(1));

        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=dispatcher", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], false));
        using var issued = request.Create(ca, now.AddHours(-1), now.AddDays(1), RandomNumberGenerator.GetBytes(16));

        var certificates = new TestCertificates(System.IO.Directory.CreateTempSubdirectory("dispatcher-tls-").FullName);
        File.WriteAllText(certificates.CaPath, ca.ExportCertificatePem());
        File.WriteAllText(certificates.CertificatePath, issued.ExportCertificatePem());
        File.WriteAllText(certificates.KeyPath, key.ExportPkcs8PrivateKeyPem());
        return certificates;
    }

    /// <summary>The issued certificate with its key, for a client of our own.</summary>
    public X509Certificate2 Load() => X509Certificate2.CreateFromPemFile(CertificatePath, KeyPath);

    public X509Certificate2Collection Authority()
    {
        var authority = new X509Certificate2Collection();
        authority.ImportFromPemFile(CaPath);
        return authority;
    }

    public void Dispose() => System.IO.Directory.Delete(Directory, recursive: true);
}
