using System.Net;
using System.Net.Sockets;
using Dispatcher.Grains.Abstractions.Configuration;
using Dispatcher.Grains.Backends;
using k8s;
using k8s.Models;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Dispatcher.Silo.Discovery;

/// <summary>
/// Finds the replicas of every model with <c>Discovery</c>: lists its Service's EndpointSlices, then watches them, and
/// keeps this silo's <see cref="ReplicaDirectory"/> set to their ready endpoints (the model grain follows it every
/// second). A watch the API server ends is resumed from the last version seen; a failure (the API server restarting, a
/// version too old) lists again after a backoff of one second, doubling up to thirty. Nothing to do without such models.
/// </summary>
internal sealed partial class EndpointSliceWatcher(
    IOptions<DispatcherOptions> options,
    IOptions<KubernetesOptions> kubernetes,
    ReplicaDirectory directory,
    TimeProvider time,
    ILogger<EndpointSliceWatcher> logger) : BackgroundService
{
    /// <summary>Asked of the API server for each watch; it ends the watch then, and it is resumed at once.</summary>
    private const int WatchSeconds = 300;

    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(30);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var models = options.Value.Models.Where(m => m.Discovery is not null).ToList();
        if (models.Count == 0)
        {
            return;
        }

        var (configuration, ownNamespace) = Configure(kubernetes.Value);
        using var client = new Kubernetes(configuration);
        await Task.WhenAll(models.Select(model => FollowAsync(client, model.Name, model.Discovery!, model.Discovery!.Namespace is { Length: > 0 } ns ? ns : ownNamespace, stoppingToken)));
    }

    /// <summary>The ready replicas an EndpointSlice names, as base addresses on the discovery's port.</summary>
    internal static IEnumerable<string> ReadyAddresses(V1EndpointSlice slice, DiscoveryOptions discovery)
    {
        var port = slice.Ports?.FirstOrDefault(p => string.IsNullOrEmpty(discovery.Port) || p.Name == discovery.Port)?.Port;
        if (port is null)
        {
            return [];
        }

        // An endpoint's addresses are one pod's (the first is the one to use); readiness unset means ready.
        return (slice.Endpoints ?? [])
            .Where(e => e.Conditions?.Ready != false && e.Addresses is { Count: > 0 })
            .Select(e => $"{discovery.Scheme}://{Host(e.Addresses[0])}:{port}");
    }

    private static string Host(string address) =>
        IPAddress.TryParse(address, out var ip) && ip.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{address}]" : address;

    private static (KubernetesClientConfiguration Configuration, string Namespace) Configure(KubernetesOptions settings)
    {
        var configuration = settings.ApiServer is { Length: > 0 } server
            ? new KubernetesClientConfiguration { Host = server }
            : KubernetesClientConfiguration.IsInCluster()
                ? KubernetesClientConfiguration.InClusterConfig()
                : KubernetesClientConfiguration.BuildConfigFromConfigFile();
        var ownNamespace = settings.Namespace is { Length: > 0 } configured ? configured
            : configuration.Namespace is { Length: > 0 } fromAccount ? fromAccount
            : Environment.GetEnvironmentVariable("POD_NAMESPACE") is { Length: > 0 } fromPod ? fromPod
            : "default";
        return (configuration, ownNamespace);
    }

    private async Task FollowAsync(Kubernetes client, string model, DiscoveryOptions discovery, string ns, CancellationToken stoppingToken)
    {
        var selector = $"kubernetes.io/service-name={discovery.Service}";
        var slices = new Dictionary<string, string[]>(StringComparer.Ordinal);
        var backoff = TimeSpan.FromSeconds(1);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var list = await client.DiscoveryV1.ListNamespacedEndpointSliceAsync(ns, labelSelector: selector, cancellationToken: stoppingToken).ConfigureAwait(false);
                slices.Clear();
                foreach (var slice in list.Items)
                {
                    slices[slice.Metadata.Name] = [.. ReadyAddresses(slice, discovery)];
                }

                Publish(model, discovery, slices);
                var version = list.Metadata.ResourceVersion;
                while (!stoppingToken.IsCancellationRequested)
                {
                    var watch = client.DiscoveryV1.WatchListNamespacedEndpointSliceAsync(
                        ns, labelSelector: selector, resourceVersion: version, allowWatchBookmarks: true, timeoutSeconds: WatchSeconds, cancellationToken: stoppingToken);
                    await foreach (var (type, slice) in watch.ConfigureAwait(false))
                    {
                        version = slice.Metadata?.ResourceVersion ?? version;
                        switch (type)
                        {
                            case WatchEventType.Added or WatchEventType.Modified:
                                slices[slice.Metadata!.Name] = [.. ReadyAddresses(slice, discovery)];
                                break;
                            case WatchEventType.Deleted:
                                slices.Remove(slice.Metadata!.Name);
                                break;
                            case WatchEventType.Error:
                                throw new InvalidOperationException("the API server ended the watch with an error (its version is too old)");
                            default:
                                continue; // a bookmark: only the version moves
                        }

                        Publish(model, discovery, slices);
                        backoff = TimeSpan.FromSeconds(1);
                    }
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception exception) when (exception is HttpRequestException or IOException or InvalidOperationException
                or k8s.Autorest.HttpOperationException or KubernetesException or TimeoutException or System.Text.Json.JsonException)
            {
                Log.WatchFailed(logger, discovery.Service, ns, model, exception.Message, backoff.TotalSeconds);
                await Task.Delay(backoff, time, stoppingToken).ConfigureAwait(false);
                backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, MaxBackoff.Ticks));
            }
        }
    }

    private void Publish(string model, DiscoveryOptions discovery, Dictionary<string, string[]> slices)
    {
        if (directory.Set(model, slices.Values.SelectMany(a => a)))
        {
            var replicas = directory.Find(model)!;
            Log.ReplicasFound(logger, model, discovery.Service, replicas.Count, string.Join(", ", replicas));
        }
    }

    private static partial class Log
    {
        [LoggerMessage(SiloEventIds.ReplicasFound, LogLevel.Information, "Model {Model}: Service {Service} has {Count} ready replicas: {Replicas}")]
        public static partial void ReplicasFound(ILogger logger, string model, string service, int count, string replicas);

        [LoggerMessage(SiloEventIds.DiscoveryFailed, LogLevel.Warning, "Watching Service {Service} in {Namespace} for {Model} failed ({Error}); listing again in {BackoffSeconds} s")]
        public static partial void WatchFailed(ILogger logger, string service, string @namespace, string model, string error, double backoffSeconds);
    }
}
