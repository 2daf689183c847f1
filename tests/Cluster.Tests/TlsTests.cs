using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using Dispatcher.Silo.Hosting;

namespace Dispatcher.Cluster.Tests;

/// <summary>Mutual TLS on the cluster's connections, with real silo and Frontend processes.</summary>
public sealed class TlsTests
{
    [Fact]
    public async Task Tls_EveryProcessWithTheClustersCertificate_ServesAndTheSilosAdmitNoStranger()
    {
        using var cluster = TestCertificates.Create("dispatcher-test-ca");
        using var stranger = TestCertificates.Create("some-other-ca");
        await using var fleet = await Fleet.StartAsync(2, 1, cluster.Settings, []);

        // Silo to silo and Frontend to gateway, all under TLS: requests are served.
        using (var stop = new CancellationTokenSource(TimeSpan.FromSeconds(3)))
        {
            await fleet.WaitAsync(fleet.Load(4, stop.Token));
        }

        fleet.AssertEveryRequestServedOnce();
        Assert.NotEmpty(fleet.Statuses);

        // A silo's port speaks TLS with a certificate of the cluster's authority, and takes the cluster's certificate...
        using (var member = await HandshakeAsync(fleet.Silos[0].Endpoint, cluster.Load(), cluster.Authority()))
        {
            Assert.True(ClusterTls.IsIssuedBy(new X509Certificate2(member.RemoteCertificate!), cluster.Authority()));
        }

        // ...but drops a peer whose certificate another authority issued (TLS 1.3 tells the client on its first read).
        var refused = await Record.ExceptionAsync(async () =>
        {
            using var outsider = await HandshakeAsync(fleet.Silos[0].Endpoint, stranger.Load(), cluster.Authority());
            var read = await outsider.ReadAsync(new byte[1]).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
            Assert.Equal(0, read); // closed: nothing was let through
        });
        Assert.True(refused is null or IOException or System.Security.Authentication.AuthenticationException, refused?.ToString());
    }

    private static async Task<SslStream> HandshakeAsync(string endpoint, X509Certificate2 certificate, X509Certificate2Collection authority)
    {
        var (host, port) = (endpoint.Split(':')[0], int.Parse(endpoint.Split(':')[1], System.Globalization.CultureInfo.InvariantCulture));
        var tcp = new TcpClient();
        await tcp.ConnectAsync(host, port);
        var ssl = new SslStream(tcp.GetStream(), leaveInnerStreamOpen: false);
        await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "dispatcher",
            ClientCertificates = [certificate],
            RemoteCertificateValidationCallback = (_, remote, _, _) => remote is not null && ClusterTls.IsIssuedBy(new X509Certificate2(remote), authority),
        }).WaitAsync(TimeSpan.FromSeconds(10));
        return ssl;
    }
}
