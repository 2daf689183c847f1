namespace Dispatcher.Silo;

/// <summary>
/// The Silo executable: administration commands, e.g.
/// <c>dotnet run --project src/Silo -- tokens add --name team-a --priority 5 --threshold 10</c>.
/// Run without arguments for the list.
/// </summary>
public static class Program
{
    public static Task<int> Main(string[] args) => SiloCommands.RunAsync(args, Console.Out, Console.Error, CancellationToken.None);
}
