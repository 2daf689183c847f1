using System.Globalization;

namespace Dispatcher.LoadDriver;

/// <summary>
/// <c>dotnet run --project bench/LoadDriver -- --url http://127.0.0.1:8080 --token T --model demo-model
/// --concurrency 16 [--rate 50] [--requests 1000] [--seconds 10] [--no-stream] [--max-tokens 16]</c>
/// </summary>
public static class Program
{
    public static async Task<int> Main(string[] args)
    {
        string? Arg(string name) => Array.IndexOf(args, name) is var i and >= 0 && i + 1 < args.Length ? args[i + 1] : null;
        if (Arg("--url") is not { } url)
        {
            Console.Error.WriteLine("usage: --url http://127.0.0.1:PORT [--token T] [--model M] [--concurrency N | --rate R] [--requests N] [--seconds S] [--no-stream] [--max-tokens N]");
            return 2;
        }

        var options = new LoadOptions
        {
            BaseAddress = new Uri(url),
            Token = Arg("--token"),
            Model = Arg("--model") ?? "demo-model",
            Concurrency = int.Parse(Arg("--concurrency") ?? "1", CultureInfo.InvariantCulture),
            RatePerSecond = Arg("--rate") is { } rate ? double.Parse(rate, CultureInfo.InvariantCulture) : null,
            MaxRequests = int.Parse(Arg("--requests") ?? int.MaxValue.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture),
            Duration = TimeSpan.FromSeconds(double.Parse(Arg("--seconds") ?? "10", CultureInfo.InvariantCulture)),
            Stream = !args.Contains("--no-stream"),
            MaxTokens = int.Parse(Arg("--max-tokens") ?? "16", CultureInfo.InvariantCulture),
        };
        Console.WriteLine(await LoadRunner.RunAsync(options));
        return 0;
    }
}
