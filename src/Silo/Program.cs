namespace Dispatcher.Silo;

/// <summary>
/// The Silo executable: <c>serve</c> runs the silo process (grains and the lease endpoint for frontends);
/// the other verbs administer, e.g. <c>dotnet run --project src/Silo -- tokens add --name team-a --priority 5 --threshold 10</c>.
/// Run without arguments for the list.
/// </summary>
public static class Program
{
    public static async Task<int> Main(string[] args)
    {
        if (args.FirstOrDefault() == "serve")
        {
            await SiloHost.Build(args[1..]).RunAsync();
            return 0;
        }

        return await SiloCommands.RunAsync(args, Console.Out, Console.Error, CancellationToken.None);
    }
}
