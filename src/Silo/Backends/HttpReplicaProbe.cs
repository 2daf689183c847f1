using System.Net;
using Dispatcher.Grains.Backends;

namespace Dispatcher.Silo.Backends;

/// <summary>Reaches replicas over HTTP for their <c>/metrics</c> and <c>/health</c>. One pool for all; thread-safe.</summary>
internal sealed class HttpReplicaProbe : IReplicaProbe, IDisposable
{
    private const int MaxMetricsBytes = 8 * 1024 * 1024;

    private readonly HttpClient _client = new(new SocketsHttpHandler
    {
        UseProxy = false,
        AllowAutoRedirect = false,
        AutomaticDecompression = DecompressionMethods.All,
        ConnectTimeout = TimeSpan.FromSeconds(2),
        PooledConnectionIdleTimeout = TimeSpan.FromSeconds(4),
    })
    {
        Timeout = Timeout.InfiniteTimeSpan, // each call carries its own deadline
        MaxResponseContentBufferSize = MaxMetricsBytes,
    };

    public async Task<ProbeResult> ScrapeAsync(Uri replica, CancellationToken cancellationToken)
    {
        try
        {
            using var response = await _client.GetAsync(Path(replica, "metrics"), cancellationToken).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                return ProbeResult.Failure($"HTTP {(int)response.StatusCode}");
            }

            return ProbeResult.Success(await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false));
        }
        catch (Exception exception) when (exception is HttpRequestException or OperationCanceledException or IOException)
        {
            return ProbeResult.Failure(exception is OperationCanceledException ? "timed out" : exception.Message);
        }
    }

    public async Task<bool> IsHealthyAsync(Uri replica, CancellationToken cancellationToken)
    {
        try
        {
            using var response = await _client.GetAsync(Path(replica, "health"), cancellationToken).ConfigureAwait(false);
            return response.StatusCode == HttpStatusCode.OK;
        }
        catch (Exception exception) when (exception is HttpRequestException or OperationCanceledException or IOException)
        {
            return false;
        }
    }

    public void Dispose() => _client.Dispose();

    private static Uri Path(Uri replica, string path) => new($"{replica.AbsoluteUri.TrimEnd('/')}/{path}");
}
