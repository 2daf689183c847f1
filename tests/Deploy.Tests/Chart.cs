using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Text.Json;

namespace Dispatcher.Deploy.Tests;

/// <summary>
/// Runs <c>deploy/helm/tools/render.mjs</c> (helm 3.10.1 from npm, objects validated by kubernetes-models),
/// installing the tools with npm on first use. Needs Node.js and npm.
/// </summary>
internal static class Chart
{
    private static readonly SemaphoreSlim InstallGate = new(1, 1);

    public static string Repository { get; } = FindRepository();

    public static string ChartDirectory => Path.Combine(Repository, "deploy", "helm", "dispatcher");

    public static string Example(string name) => Path.Combine(Repository, "deploy", "helm", "examples", name);

    /// <summary>Renders the chart with the values files; the result's <c>objects</c> are the rendered objects.</summary>
    public static Task<JsonElement> TemplateAsync(params string[] valuesFiles) => RunAsync("template", valuesFiles);

    public static Task<JsonElement> LintAsync(params string[] valuesFiles) => RunAsync("lint", valuesFiles);

    /// <summary>Renders the chart with the values in <paramref name="valuesYaml"/> (after <paramref name="valuesFiles"/>).</summary>
    public static async Task<JsonElement> TemplateWithAsync(string valuesYaml, params string[] valuesFiles)
    {
        var file = Path.Combine(Path.GetTempPath(), $"values-{Guid.NewGuid():N}.yaml");
        await File.WriteAllTextAsync(file, valuesYaml);
        try
        {
            return await TemplateAsync([.. valuesFiles, file]);
        }
        finally
        {
            File.Delete(file);
        }
    }

    public static IEnumerable<JsonElement> Objects(this JsonElement rendered, string kind) =>
        rendered.GetProperty("objects").EnumerateArray().Where(o => o.GetProperty("kind").GetString() == kind);

    public static string Name(this JsonElement obj) => obj.GetProperty("metadata").GetProperty("name").GetString()!;

    private static async Task<JsonElement> RunAsync(string mode, string[] valuesFiles)
    {
        var tools = Path.Combine(Repository, "deploy", "helm", "tools");
        await InstallGate.WaitAsync();
        try
        {
            if (!File.Exists(Path.Combine(tools, "node_modules", ".bin", "helm")))
            {
                await RunProcessAsync("npm", ["install", "--no-audit", "--no-fund", "--no-package-lock"], tools);
            }
        }
        finally
        {
            InstallGate.Release();
        }

        var output = await RunProcessAsync("node", ["render.mjs", mode, ChartDirectory, .. valuesFiles], tools);
        return JsonDocument.Parse(output).RootElement.Clone();
    }

    private static async Task<string> RunProcessAsync(string program, string[] arguments, string directory)
    {
        var start = new ProcessStartInfo(program) { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{program} could not start (Node.js and npm are needed).");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(3));
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{program} {string.Join(' ', arguments)} failed: {await stderr}");
        }

        return await stdout;
    }

    private static string FindRepository([CallerFilePath] string here = "") =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(here)!, "..", ".."));
}
