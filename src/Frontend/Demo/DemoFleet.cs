using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Dispatcher.VllmEmulator;

namespace Dispatcher.Frontend.Demo;

/// <summary>
/// The embedded default: when no model is configured, two emulated vLLM replicas of one demo model are
/// started on loopback, two demo tokens of different priority are generated, and both are added to the
/// configuration as if an operator had written them. Tokens are new at every start and printed once.
/// </summary>
public sealed class DemoFleet : IAsyncDisposable
{
    /// <summary>The demo model's id.</summary>
    public const string ModelName = "demo-model";

    /// <summary>The address the demo listens on unless told otherwise: loopback, since its tokens are printed.</summary>
    public const string DefaultUrl = "http://127.0.0.1:8080";

    private readonly List<EmulatorServer> _replicas;
    private readonly List<(string Name, string Secret, int Priority, int Threshold)> _tokens;

    private DemoFleet(List<EmulatorServer> replicas, List<(string, string, int, int)> tokens)
    {
        _replicas = replicas;
        _tokens = tokens;
    }

    /// <summary>Starts the demo when <c>Dispatcher:Models</c> is empty; returns null otherwise.</summary>
    public static async Task<DemoFleet?> StartIfUnconfiguredAsync(ConfigurationManager configuration, CancellationToken cancellationToken = default)
    {
        if (configuration.GetSection("Dispatcher:Models").GetChildren().Any())
        {
            return null;
        }

        List<EmulatorServer> replicas = [];
        for (var i = 0; i < 2; i++)
        {
            replicas.Add(await EmulatorServer.StartAsync(new EmulatorOptions { ModelName = ModelName, DefaultCompletionTokens = 48 }, cancellationToken: cancellationToken));
        }

        List<(string, string, int, int)> tokens =
        [
            ("demo-high", NewSecret(), 10, 20),
            ("demo-low", NewSecret(), 1, 20),
        ];

        var settings = new Dictionary<string, string?>
        {
            ["Dispatcher:Models:0:Name"] = ModelName,
            ["Dispatcher:Models:0:MaxConcurrentLeasesPerBackend"] = "4",
            ["Dispatcher:Dashboard:Open"] = "true", // loopback-only demo: the dashboard needs no admin token
        };
        for (var i = 0; i < replicas.Count; i++)
        {
            settings[$"Dispatcher:Models:0:Backends:{i}"] = replicas[i].BaseAddress.AbsoluteUri;
        }

        var first = configuration.GetSection("Dispatcher:Tokens").GetChildren().Count();
        for (var i = 0; i < tokens.Count; i++)
        {
            var (name, secret, priority, threshold) = tokens[i];
            var at = $"Dispatcher:Tokens:{first + i}";
            settings[$"{at}:Name"] = name;
            settings[$"{at}:Token"] = secret;
            settings[$"{at}:Priority"] = priority.ToString(CultureInfo.InvariantCulture);
            settings[$"{at}:Threshold"] = threshold.ToString(CultureInfo.InvariantCulture);
        }

        configuration.AddInMemoryCollection(settings);
        return new DemoFleet(replicas, tokens);
    }

    /// <summary>Prints, once the server listens, the model, tokens, replicas and a curl line to try.</summary>
    public void PrintBannerWhenStarted(WebApplication app) =>
        app.Lifetime.ApplicationStarted.Register(() => Console.Out.Write(Banner(app.Urls.FirstOrDefault() ?? DefaultUrl)));

    public async ValueTask DisposeAsync()
    {
        foreach (var replica in _replicas)
        {
            await replica.DisposeAsync();
        }
    }

    private string Banner(string listening)
    {
        var url = listening.Replace("0.0.0.0", "127.0.0.1", StringComparison.Ordinal)
            .Replace("[::]", "127.0.0.1", StringComparison.Ordinal).Replace("//+", "//127.0.0.1", StringComparison.Ordinal).TrimEnd('/');
        var text = new StringBuilder();
        text.AppendLine();
        text.AppendLine("Dispatcher demo (no Dispatcher:Models configured)");
        text.AppendLine(CultureInfo.InvariantCulture, $"  model:    {ModelName}");
        foreach (var replica in _replicas)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"  replica:  {replica.BaseAddress.AbsoluteUri.TrimEnd('/')} (emulated vLLM)");
        }

        foreach (var (name, secret, priority, threshold) in _tokens)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"  token:    {secret}  ({name}, priority {priority}, threshold {threshold})");
        }

        text.AppendLine("  These tokens are generated at each start and shown only here.");
        text.AppendLine(CultureInfo.InvariantCulture, $"  dashboard: {url}/dashboard   metrics: {url}/metrics");
        text.AppendLine();
        text.AppendLine("Try:");
        text.AppendLine(CultureInfo.InvariantCulture,
            $"  curl {url}/v1/chat/completions -H \"Authorization: Bearer {_tokens[0].Secret}\" -H \"Content-Type: application/json\" -d '{{\"model\":\"{ModelName}\",\"messages\":[{{\"role\":\"user\",\"content\":\"Hello\"}}],\"stream\":true}}'");
        text.AppendLine();
        return text.ToString();
    }

    private static string NewSecret() => "dsp-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
}
