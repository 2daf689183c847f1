namespace Dispatcher.Silo;

/// <summary>
/// The Silo executable: <c>serve</c> runs a silo process (an Orleans silo hosting the grains, joining the cluster in
/// <c>ConnectionStrings:Postgres</c>); the other verbs administer, e.g.
/// <c>dotnet run --project src/Silo -- tokens add --name team-a --priority 5 --threshold 10</c>. Run without arguments
/// for the list.
/// </summary>
public static class Program
{
    public static async Task<int> Main(string[] args)
    {
        if (args.FirstOrDefault() == "serve")
        {
            var app = SiloHost.Build(args[1..]);
            await SiloHost.MigrateAsync(app.Configuration, CancellationToken.None);
            await app.RunAsync();
            return 0;
        }

        return await SiloCommands.RunAsync(args, Console.Out, Console.Error, CancellationToken.None);
    }
}
