using System.Net;
using System.Net.Http.Json;
using Dispatcher.Silo.Remote;

namespace Dispatcher.Cluster.Tests;

/// <summary>The silo's internal protocol spoken by hand (HTTP/2 cleartext), to watch what a Frontend would see.</summary>
internal sealed class SiloCalls : IDisposable
{
    private readonly HttpClient _http = new(new SocketsHttpHandler { EnableMultipleHttp2Connections = true })
    {
        DefaultRequestVersion = HttpVersion.Version20,
        DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
        Timeout = TimeSpan.FromSeconds(30),
    };

    /// <summary>Opens a lease call; the answer's headers have arrived when this returns.</summary>
    public async Task<HttpResponseMessage> OpenLeaseAsync(string silo, LeaseCall call, CancellationToken cancellationToken = default)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(new Uri(silo), SiloProtocol.LeasesPath))
        {
            Content = JsonContent.Create(call, options: SiloProtocol.Json),
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        return await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
    }

    /// <summary>Reads lines of a lease call until one is not <c>queued</c> (or the call ends: null).</summary>
    public static async Task<LeaseEvent?> ReadDecisionAsync(StreamReader reader)
    {
        while (await reader.ReadLineAsync() is { } line)
        {
            var message = System.Text.Json.JsonSerializer.Deserialize<LeaseEvent>(line, SiloProtocol.Json)!;
            if (message.Type != LeaseEvent.Queued)
            {
                return message;
            }
        }

        return null;
    }

    public async Task<HttpStatusCode> ReleaseAsync(string silo, ReleaseCall call) =>
        (await _http.PostAsJsonAsync(new Uri(new Uri(silo), SiloProtocol.ReleasePath), call, SiloProtocol.Json)).StatusCode;

    public async Task<ClusterView> ViewAsync(string silo) =>
        (await _http.GetFromJsonAsync<ClusterView>(new Uri(new Uri(silo), SiloProtocol.ClusterPath), SiloProtocol.Json))!;

    public async Task<T?> GetAsync<T>(string silo, string path)
    {
        using var response = await _http.GetAsync(new Uri(new Uri(silo), path));
        return response.IsSuccessStatusCode ? await response.Content.ReadFromJsonAsync<T>(SiloProtocol.Json) : default;
    }

    public void Dispose() => _http.Dispose();
}
