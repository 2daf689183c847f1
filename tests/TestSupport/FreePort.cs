using System.Net;
using System.Net.Sockets;

namespace Dispatcher.Testing;

/// <summary>Loopback ports for servers whose address must be known before they start (processes, advertised addresses).</summary>
public static class FreePort
{
    /// <summary>A port free now (the OS picks it; another process could take it before use, rarely).</summary>
    public static int Next()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
