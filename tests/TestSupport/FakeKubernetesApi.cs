using System.Globalization;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Dispatcher.Testing;

/// <summary>
/// A fake Kubernetes API server on loopback that serves EndpointSlices the way the real one does for a client that lists
/// and watches them (<c>GET /apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices</c>, by the label
/// <c>kubernetes.io/service-name</c>): a list with its resource version, and watches that replay every change after a
/// version and then stream new ones as lines of <c>{"type": ..., "object": ...}</c> until their timeout.
/// </summary>
public sealed class FakeKubernetesApi : IAsyncDisposable
{
    public const string Namespace = "default";

    private readonly WebApplication _app;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, JsonObject> _slices = new(StringComparer.Ordinal);
    private readonly List<(long Version, string Type, JsonObject Slice)> _changes = [];
    private long _version = 100;
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private CancellationTokenSource _watches = new();
    private int _lists;
    private int _watchCalls;

    private FakeKubernetesApi(WebApplication app) => _app = app;

    /// <summary>The address to configure as <c>Dispatcher:Kubernetes:ApiServer</c>.</summary>
    public string Address => _app.Urls.First();

    /// <summary>List requests served.</summary>
    public int Lists => Volatile.Read(ref _lists);

    /// <summary>Watch requests served.</summary>
    public int Watches => Volatile.Read(ref _watchCalls);

    public static async Task<FakeKubernetesApi> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var api = new FakeKubernetesApi(builder.Build());
        api._app.MapGet("/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices", api.ServeAsync);
        await api._app.StartAsync();
        return api;
    }

    /// <summary>Adds or replaces EndpointSlice <paramref name="name"/> of <paramref name="service"/>: one port, these endpoints.</summary>
    public void SetSlice(string service, string name, int port, params (string Address, bool Ready)[] endpoints)
    {
        var slice = new JsonObject
        {
            ["apiVersion"] = "discovery.k8s.io/v1",
            ["kind"] = "EndpointSlice",
            ["metadata"] = new JsonObject
            {
                ["name"] = name,
                ["namespace"] = Namespace,
                ["labels"] = new JsonObject { ["kubernetes.io/service-name"] = service },
            },
            ["addressType"] = "IPv4",
            ["endpoints"] = new JsonArray([.. endpoints.Select(e => (JsonNode)new JsonObject
            {
                ["addresses"] = new JsonArray(e.Address),
                ["conditions"] = new JsonObject { ["ready"] = e.Ready, ["serving"] = e.Ready, ["terminating"] = false },
            })]),
            ["ports"] = new JsonArray(new JsonObject { ["name"] = "http", ["port"] = port, ["protocol"] = "TCP" }),
        };
        lock (_gate)
        {
            Change(_slices.ContainsKey(name) ? "MODIFIED" : "ADDED", slice);
            _slices[name] = slice;
        }
    }

    /// <summary>Deletes EndpointSlice <paramref name="name"/>.</summary>
    public void DeleteSlice(string name)
    {
        lock (_gate)
        {
            if (_slices.Remove(name, out var slice))
            {
                Change("DELETED", slice);
            }
        }
    }

    /// <summary>Cuts every running watch (as an API server restart does); clients must list and watch again.</summary>
    public void CutWatches()
    {
        lock (_gate)
        {
            _watches.Cancel();
            _watches = new CancellationTokenSource();
        }
    }

    public async ValueTask DisposeAsync()
    {
        CutWatches();
        await _app.DisposeAsync();
    }

    private void Change(string type, JsonObject slice)
    {
        _version++;
        slice["metadata"]!["resourceVersion"] = _version.ToString(CultureInfo.InvariantCulture);
        _changes.Add((_version, type, (JsonObject)slice.DeepClone()));
        _changed.TrySetResult();
        _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private async Task ServeAsync(string ns, HttpContext context)
    {
        var query = context.Request.Query;
        var service = query["labelSelector"].ToString() is var selector && selector.StartsWith("kubernetes.io/service-name=", StringComparison.Ordinal)
            ? selector["kubernetes.io/service-name=".Length..]
            : null;
        bool Matches(JsonObject slice) => ns == Namespace && slice["metadata"]!["labels"]!["kubernetes.io/service-name"]!.GetValue<string>() == service;

        if (query["watch"] != "true" && query["watch"] != "1")
        {
            Interlocked.Increment(ref _lists);
            JsonObject list;
            lock (_gate)
            {
                list = new JsonObject
                {
                    ["apiVersion"] = "discovery.k8s.io/v1",
                    ["kind"] = "EndpointSliceList",
                    ["metadata"] = new JsonObject { ["resourceVersion"] = _version.ToString(CultureInfo.InvariantCulture) },
                    ["items"] = new JsonArray([.. _slices.Values.Where(Matches).Select(s => (JsonNode)s.DeepClone())]),
                };
            }

            await context.Response.WriteAsJsonAsync(list);
            return;
        }

        Interlocked.Increment(ref _watchCalls);
        var from = long.TryParse(query["resourceVersion"], CultureInfo.InvariantCulture, out var version) ? version : _version;
        var timeout = TimeSpan.FromSeconds(int.TryParse(query["timeoutSeconds"], CultureInfo.InvariantCulture, out var seconds) ? seconds : 300);
        CancellationToken cut;
        lock (_gate)
        {
            cut = _watches.Token;
        }

        using var ends = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, cut);
        ends.CancelAfter(timeout);
        context.Response.ContentType = "application/json";
        await context.Response.StartAsync();
        while (true)
        {
            List<(long Version, string Type, JsonObject Slice)> pending;
            Task changed;
            lock (_gate)
            {
                pending = [.. _changes.Where(c => c.Version > from && Matches(c.Slice))];
                from = _version;
                changed = _changed.Task;
            }

            foreach (var (_, type, slice) in pending)
            {
                await context.Response.WriteAsync(new JsonObject { ["type"] = type, ["object"] = slice.DeepClone() }.ToJsonString() + "\n");
            }

            await context.Response.Body.FlushAsync();
            try
            {
                await changed.WaitAsync(ends.Token);
            }
            catch (OperationCanceledException)
            {
                if (cut.IsCancellationRequested)
                {
                    context.Abort(); // an API server gone away: the connection breaks
                }

                return;
            }
        }
    }
}
