using System.Globalization;
using System.Net.Http.Json;
using System.Text;
using Dispatcher.LoadDriver;

namespace Dispatcher.Benchmarks;

/// <summary>
/// Scheduling quality through the real HTTP path, against nginx round-robin (which lets vLLM queue) under the same
/// overload. Two emulated replicas whose per-user rate is 1/(10 ms + 5 ms x running): above the 7 tokens/s floor up
/// to 26 running each. Shares: three tokens of weights 1, 2 and 7, 30 clients each (90 > 52 slots). Isolation: a
/// priority-1 flood of 90 clients while a priority-10 token sends 2 requests a second.
/// </summary>
internal static class Quality
{
    private const double Floor = 7;
    private static readonly (string Name, string Secret, int Priority)[] Tokens =
    [
        ("w1", "quality-token-w1-00000000000", 1), ("w2", "quality-token-w2-00000000000", 2), ("w7", "quality-token-w7-00000000000", 7),
        ("vip", "quality-token-vip-0000000000", 10),
    ];

    public static async Task<string> RunAsync(TimeSpan duration)
    {
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"Each run lasts {duration.TotalSeconds:0} s; requests ask for 40 tokens, streamed. \"Above floor\" is the share of requests whose own decode rate, timed by the client, was at least {Floor} tokens/s; \"GPU busy\" is the share of the run the emulated replicas had anything running.");
        text.AppendLine();
        text.AppendLine("| scenario | path | w1 / w2 / w7 share of completions | vip first byte p50 / p99 | vip tokens/s p50 | requests above floor | GPU busy | completed |");
        text.AppendLine("| --- | --- | --- | --- | ---: | ---: | ---: | ---: |");
        foreach (var scenario in new[] { "shares", "isolation" })
        {
            foreach (var path in new[] { "Dispatcher", "nginx round-robin" })
            {
                text.AppendLine(await RunOneAsync(scenario, path, duration));
            }
        }

        return text.ToString();
    }

    private static async Task<string> RunOneAsync(string scenario, string path, TimeSpan duration)
    {
        await using var processes = new Processes();
        string[] gpu = ["--Emulator:ModelName", "bench-model", "--Emulator:StepBase", "00:00:00.010", "--Emulator:StepPerRunning", "00:00:00.005", "--Emulator:MaxNumSeqs", "256"];
        var replicas = new[] { await processes.EmulatorAsync(gpu), await processes.EmulatorAsync(gpu) };
        Uri target;
        if (path == "Dispatcher")
        {
            var settings = new List<string>
            {
                "--Dispatcher:Models:0:Name=bench-model", $"--Dispatcher:Models:0:Backends:0={replicas[0]}", $"--Dispatcher:Models:0:Backends:1={replicas[1]}",
                $"--Dispatcher:Capacity:MinTokensPerSecond={Floor}", "--Dispatcher:Capacity:ScrapeInterval=00:00:00.500", "--Dispatcher:QueueTimeout=00:05:00",
            };
            for (var i = 0; i < Tokens.Length; i++)
            {
                settings.AddRange([$"--Dispatcher:Tokens:{i}:Name={Tokens[i].Name}", $"--Dispatcher:Tokens:{i}:Token={Tokens[i].Secret}",
                    $"--Dispatcher:Tokens:{i}:Priority={Tokens[i].Priority}", $"--Dispatcher:Tokens:{i}:Threshold=1000"]);
            }

            target = (await processes.DispatcherAsync([.. settings])).Address;
        }
        else
        {
            target = await processes.NginxAsync(replicas);
        }

        LoadOptions Load(string token, int concurrency, double? rate = null) => new()
        {
            BaseAddress = target, Token = token, Model = "bench-model", Concurrency = concurrency, RatePerSecond = rate, Duration = duration, Stream = true, MaxTokens = 40,
        };
        var busyBefore = await BusyAsync(replicas);
        var runs = scenario == "shares"
            ? Tokens[..3].Select(t => (t.Name, Task: LoadRunner.RunAsync(Load(t.Secret, 30)))).ToList()
            : [("flood", LoadRunner.RunAsync(Load(Tokens[0].Secret, 90))), ("vip", LoadRunner.RunAsync(Load(Tokens[3].Secret, 1, rate: 2)))];
        await Task.WhenAll(runs.Select(r => r.Task));
        var busy = (await BusyAsync(replicas)) - busyBefore;
        var results = runs.ToDictionary(r => r.Name, r => r.Task.Result);
        var all = results.Values.ToList();
        var completed = all.Sum(r => r.Latencies.Count);
        var aboveFloor = all.Sum(r => r.TokenRates.Count(x => x >= Floor)) / (double)Math.Max(1, all.Sum(r => r.TokenRates.Count));
        var shares = scenario == "shares"
            ? string.Join(" / ", Tokens[..3].Select(t => $"{results[t.Name].Latencies.Count / (double)completed:P0}"))
            : "-";
        var vip = scenario == "isolation"
            ? string.Create(CultureInfo.InvariantCulture, $"{LoadResult.Percentile(results["vip"].FirstBytes, 0.5):0} / {LoadResult.Percentile(results["vip"].FirstBytes, 0.99):0} ms")
            : "-";
        var vipRate = scenario == "isolation" ? LoadResult.Percentile(results["vip"].TokenRates, 0.5).ToString("0.0", CultureInfo.InvariantCulture) : "-";
        return string.Create(CultureInfo.InvariantCulture,
            $"| {scenario} | {path} | {shares} | {vip} | {vipRate} | {aboveFloor:P0} | {busy / (2 * duration.TotalSeconds):P0} | {completed} |");
    }

    private static async Task<double> BusyAsync(Uri[] replicas)
    {
        using var http = new HttpClient();
        double total = 0;
        foreach (var replica in replicas)
        {
            var stats = await http.GetFromJsonAsync<Dictionary<string, System.Text.Json.JsonElement>>(new Uri(replica, "/emulator/stats"));
            total += stats!["busySeconds"].GetDouble();
        }

        return total;
    }
}
