using System.Runtime.InteropServices;

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
        // Its web host handles these signals too and cancels the runtime's own exit on SIGTERM, so ProcessExit never came
        // and a replica told to stop (`kill`, as bench/profile.sh does) stopped serving but never exited.
        var stop = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
        using var terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
        using var quit = PosixSignalRegistration.Create(PosixSignal.SIGQUIT, Stop);
        await stop.Task;

        void Stop(PosixSignalContext context)
        {
            context.Cancel = true;
            stop.TrySetResult();
        }
    }
}
