using System.Net;
using System.Net.Http.Json;
using Dispatcher.Silo.Remote;
using Microsoft.Extensions.Options;

namespace Dispatcher.Silo.Client;

/// <summary>
/// The Frontend's HTTP/2 connections to silos (cleartext, prior knowledge). Lease calls of one Frontend share a few
/// connections as streams; HTTP/2 pings notice a silo that vanished without closing them. Thread-safe.
/// </summary>
internal sealed class SiloConnection : IDisposable
{
    private readonly HttpClient _client;
    private readonly RemoteSiloOptions _options;

    public SiloConnection(IOptions<RemoteSiloOptions> options)
    {
        _options = options.Value;
        var handler = new SocketsHttpHandler
        {
            ConnectTimeout = _options.ConnectTimeout,
            EnableMultipleHttp2Connections = true,
            KeepAlivePingDelay = TimeSpan.FromSeconds(5),
            KeepAlivePingTimeout = TimeSpan.FromSeconds(5),
            KeepAlivePingPolicy = HttpKeepAlivePingPolicy.Always,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
            UseProxy = false,
        };
        _client = new HttpClient(handler)
        {
            DefaultRequestVersion = HttpVersion.Version20,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Timeout = Timeout.InfiniteTimeSpan, // lease calls last as long as their requests
        };
        if (_options.InternalKey is { Length: > 0 } key)
        {
            _client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", key);
        }
    }

    /// <summary>A short call answered with JSON; null when the silo answers an error status.</summary>
    public async Task<T?> GetAsync<T>(string silo, string path, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.CallTimeout);
        using var response = await _client.GetAsync(new Uri(new Uri(silo), path), timeout.Token).ConfigureAwait(false);
        return response.IsSuccessStatusCode
            ? await response.Content.ReadFromJsonAsync<T>(SiloProtocol.Json, timeout.Token).ConfigureAwait(false)
            : default;
    }

    /// <summary>A short call with a JSON body. Returns the status code.</summary>
    public async Task<HttpStatusCode> PostAsync<T>(string silo, string path, T body, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.CallTimeout);
        using var response = await _client.PostAsJsonAsync(new Uri(new Uri(silo), path), body, SiloProtocol.Json, timeout.Token).ConfigureAwait(false);
        return response.StatusCode;
    }

    /// <summary>Opens a streaming call (lease or adoption): returns once the silo has answered its headers.</summary>
    public async Task<HttpResponseMessage> OpenAsync<T>(string silo, string path, T body, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(new Uri(silo), path))
        {
            Content = JsonContent.Create(body, options: SiloProtocol.Json),
            Version = HttpVersion.Version20, // a request made by hand does not take the client's defaults
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        return await _client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
    }

    public void Dispose() => _client.Dispose();
}
