using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using Dispatcher.Silo.Database;
using Dispatcher.Silo.Tokens;
using Dispatcher.VllmEmulator;
using Npgsql;

namespace Dispatcher.Cluster.Tests;

/// <summary>Emulated replicas per model, one token, and the configuration every silo and Frontend of a test shares.</summary>
internal sealed class Fleet : IAsyncDisposable
{
    public const string Token = "sk-cluster-test-0123456789";
    public const string TokenName = "cluster-test";

    private Fleet(Dictionary<string, List<EmulatorServer>> replicas) => Replicas = replicas;

    public Dictionary<string, List<EmulatorServer>> Replicas { get; }

    public IEnumerable<string> Models => Replicas.Keys;

    public IEnumerable<EmulatorServer> AllReplicas => Replicas.Values.SelectMany(r => r);

    /// <param name="models">The model names.</param>
    /// <param name="replicasPerModel">Emulated replicas of each.</param>
    /// <param name="step">Time of one engine step (one token for every running request).</param>
    public static async Task<Fleet> StartAsync(IEnumerable<string> models, int replicasPerModel, TimeSpan step)
    {
        var replicas = new Dictionary<string, List<EmulatorServer>>(StringComparer.Ordinal);
        foreach (var model in models)
        {
            replicas[model] = [];
            for (var i = 0; i < replicasPerModel; i++)
            {
                replicas[model].Add(await EmulatorServer.StartAsync(new EmulatorOptions
                {
                    ModelName = model,
                    StepBase = step,
                    StepPerRunning = TimeSpan.Zero,
                    DefaultCompletionTokens = 8,
                }));
            }
        }

        return new Fleet(replicas);
    }

    /// <summary>
    /// Models, replicas (exactly <paramref name="capacity"/> leases each: admission by metrics is tested elsewhere, here
    /// it would only blur what the cluster does) and, without a database, the token.
    /// </summary>
    public Dictionary<string, string?> Settings(int capacity, bool tokenInConfiguration)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Dispatcher:Capacity:UseMetrics"] = "false",
            ["Dispatcher:Capacity:ScrapeInterval"] = "00:00:00.200",
            ["Dispatcher:QueueTimeout"] = "00:01:00",
        };
        var m = 0;
        foreach (var (model, replicas) in Replicas)
        {
            settings[$"Dispatcher:Models:{m}:Name"] = model;
            settings[$"Dispatcher:Models:{m}:MaxConcurrentLeasesPerBackend"] = capacity.ToString(CultureInfo.InvariantCulture);
            for (var r = 0; r < replicas.Count; r++)
            {
                settings[$"Dispatcher:Models:{m}:Backends:{r}"] = replicas[r].BaseAddress.AbsoluteUri;
            }

            m++;
        }

        if (tokenInConfiguration)
        {
            settings["Dispatcher:Tokens:0:Name"] = TokenName;
            settings["Dispatcher:Tokens:0:Token"] = Token;
            settings["Dispatcher:Tokens:0:Priority"] = "5";
            settings["Dispatcher:Tokens:0:Threshold"] = "1000";
        }

        return settings;
    }

    /// <summary>Creates the schema and the token in a test database.</summary>
    public static async Task PutTokenAsync(string postgres)
    {
        await using var dataSource = NpgsqlDataSource.Create(postgres);
        await PostgresMigrator.MigrateAsync(dataSource, CancellationToken.None);
        await new TokenAdmin(dataSource).PutAsync(TokenName, Token, 5, 1000, null, CancellationToken.None);
    }

    public static HttpClient Client(string frontend)
    {
        var client = new HttpClient { BaseAddress = new Uri(frontend), Timeout = TimeSpan.FromSeconds(60) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);
        return client;
    }

    public static StringContent Chat(string model, int maxTokens, bool stream) =>
        new($"{{\"model\":\"{model}\",\"messages\":[{{\"role\":\"user\",\"content\":\"Hello\"}}],\"max_tokens\":{maxTokens},\"stream\":{(stream ? "true" : "false")}}}",
            Encoding.UTF8, "application/json");

    public async ValueTask DisposeAsync()
    {
        foreach (var replica in AllReplicas)
        {
            await replica.DisposeAsync();
        }
    }
}
