namespace Dispatcher.VllmEmulator;

/// <summary>
/// Runs one emulated replica: <c>dotnet run --project tools/VllmEmulator -- --urls http://127.0.0.1:8000
/// --Emulator:ModelName demo-model</c>. Every <see cref="EmulatorOptions"/> property is an
/// <c>Emulator:</c> setting.
/// </summary>
public static class Program
{
    public static async Task Main(string[] args)
    {
        var configuration = new ConfigurationBuilder().AddEnvironmentVariables().AddCommandLine(args).Build();
        var options = configuration.GetSection(EmulatorOptions.SectionName).Get<EmulatorOptions>() ?? new EmulatorOptions();
        var url = configuration["urls"] ?? "http://127.0.0.1:8000";
        await using var server = await EmulatorServer.StartAsync(options, url);
        Console.WriteLine($"vLLM emulator serving '{options.ModelName}' at {server.BaseAddress}");
        var stop = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Console.CancelKeyPress += (_, e) =>
        {
            e.Cancel = true;
            stop.TrySetResult();
        };
        AppDomain.CurrentDomain.ProcessExit += (_, _) => stop.TrySetResult();
        await stop.Task;
    }
}
