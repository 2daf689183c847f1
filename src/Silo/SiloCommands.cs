using System.Globalization;
using Dispatcher.Silo.Database;
using Dispatcher.Silo.Tokens;
using Microsoft.Extensions.Configuration;
using Npgsql;

namespace Dispatcher.Silo;

/// <summary>
/// The verbs of the Silo executable. The database is <c>ConnectionStrings:Postgres</c>, from the environment
/// (<c>ConnectionStrings__Postgres</c>) or an argument (<c>--ConnectionStrings:Postgres "Host=..."</c>).
/// Exit codes: 0 done, 1 failed, 2 wrong usage.
/// </summary>
public static class SiloCommands
{
    public const string Usage = """
        Usage: Dispatcher.Silo <command> [options]   (database: ConnectionStrings__Postgres or --ConnectionStrings:Postgres "...")
          serve                                     run a silo: an Orleans silo hosting the grains (silo port 11111, gateway 30000),
                                                    health, metrics, dashboard, /cluster (port 8082); joins the cluster in the database
          migrate                                   create or update the token tables and Orleans' membership tables
          tokens add --name N --priority P --threshold T [--max-in-flight M] [--client-type C]
                                                    create a token; its secret is printed once, only its hash is kept
          tokens put --name N --secret-from-env VAR --priority P --threshold T [--max-in-flight M]
                                                    create or update a token whose secret is in environment variable VAR
          tokens list                               list tokens (never their secrets)
          tokens set --name N [--priority P] [--threshold T] [--max-in-flight M | --no-max-in-flight]
          tokens revoke --name N                    revoke a token (refused everywhere within moments)
          tokens import-legacy [--table users]      copy Aristote's plain-text users table in, hashed
        """;

    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        var verbs = args.TakeWhile(a => !a.StartsWith("--", StringComparison.Ordinal)).ToArray();
        var options = Options(args[verbs.Length..]);
        // Settings given as --Section:Key value (such as --ConnectionStrings:Postgres) override the environment.
        var settings = options.Where(o => o.Key.Contains(':', StringComparison.Ordinal));
        var configuration = new ConfigurationBuilder().AddEnvironmentVariables().AddInMemoryCollection(settings).Build();
        var connectionString = configuration.GetConnectionString(SiloHostingExtensions.PostgresConnectionName);
        var command = string.Join(' ', verbs);
        if (command is not ("migrate" or "tokens add" or "tokens put" or "tokens list" or "tokens set" or "tokens revoke" or "tokens import-legacy"))
        {
            await error.WriteLineAsync(Usage);
            return 2;
        }

        if (string.IsNullOrWhiteSpace(connectionString))
        {
            await error.WriteLineAsync("ConnectionStrings:Postgres is not set (environment ConnectionStrings__Postgres, or --ConnectionStrings:Postgres \"Host=...\").");
            return 2;
        }

        await using var dataSource = NpgsqlDataSource.Create(connectionString);
        try
        {
            await PostgresMigrator.MigrateAsync(dataSource, cancellationToken);
            return command == "migrate" ? await ReportAsync(output, "Database is up to date.") : await RunTokensAsync(command, options, new TokenAdmin(dataSource), output, error, cancellationToken);
        }
        catch (Exception exception) when (exception is NpgsqlException or ArgumentException or FormatException)
        {
            await error.WriteLineAsync($"Failed: {exception.Message}");
            return exception is ArgumentException or FormatException ? 2 : 1;
        }
    }

    private static async Task<int> RunTokensAsync(string command, Dictionary<string, string?> options, TokenAdmin admin, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        switch (command)
        {
            case "tokens add":
                var secret = await admin.AddAsync(Required(options, "name"), Number(options, "priority") ?? 1, Number(options, "threshold") ?? 10,
                    Number(options, "max-in-flight"), options.GetValueOrDefault("client-type"), cancellationToken);
                await output.WriteLineAsync($"Token '{options["name"]}' created. Its secret, shown only now:");
                await output.WriteLineAsync(secret);
                return 0;
            case "tokens put":
                var variable = Required(options, "secret-from-env");
                var given = Environment.GetEnvironmentVariable(variable) is { Length: > 0 } value ? value : throw new ArgumentException($"Environment variable {variable} is empty.");
                await admin.PutAsync(Required(options, "name"), given, Number(options, "priority") ?? 1, Number(options, "threshold") ?? 10,
                    Number(options, "max-in-flight"), cancellationToken);
                return await ReportAsync(output, $"Token '{options["name"]}' put.");
            case "tokens list":
                await output.WriteLineAsync("name\tpriority\tthreshold\tmax-in-flight\tclient-type\tcreated\trevoked");
                foreach (var e in await admin.ListAsync(cancellationToken))
                {
                    await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                        $"{e.Name}\t{e.Priority}\t{e.Threshold}\t{e.MaxInFlight?.ToString(CultureInfo.InvariantCulture) ?? "-"}\t{e.ClientType ?? "-"}\t{e.CreatedAt:u}\t{(e.RevokedAt is { } r ? r.ToString("u", CultureInfo.InvariantCulture) : "-")}"));
                }

                return 0;
            case "tokens set":
                var changed = await admin.SetAsync(Required(options, "name"), Number(options, "priority"), Number(options, "threshold"),
                    Number(options, "max-in-flight"), options.ContainsKey("no-max-in-flight"), cancellationToken);
                return changed ? await ReportAsync(output, $"Token '{options["name"]}' updated.") : await ReportAsync(error, $"No token named '{options["name"]}'.", 1);
            case "tokens revoke":
                var revoked = await admin.RevokeAsync(Required(options, "name"), cancellationToken);
                return revoked ? await ReportAsync(output, $"Token '{options["name"]}' revoked.") : await ReportAsync(error, $"No active token named '{options["name"]}'.", 1);
            default:
                var copied = await admin.ImportLegacyAsync(options.GetValueOrDefault("table") ?? "users", cancellationToken);
                return await ReportAsync(output, $"{copied} tokens imported. Drop the old table: it still holds the secrets in plain text.");
        }
    }

    private static async Task<int> ReportAsync(TextWriter writer, string message, int code = 0)
    {
        await writer.WriteLineAsync(message);
        return code;
    }

    /// <summary><c>--key value</c> pairs and bare <c>--flag</c>s, keys without their dashes.</summary>
    private static Dictionary<string, string?> Options(string[] args)
    {
        var options = new Dictionary<string, string?>(StringComparer.Ordinal);
        for (var i = 0; i < args.Length; i++)
        {
            if (args[i].StartsWith("--", StringComparison.Ordinal))
            {
                var hasValue = i + 1 < args.Length && !args[i + 1].StartsWith("--", StringComparison.Ordinal);
                options[args[i][2..]] = hasValue ? args[++i] : null;
            }
        }

        return options;
    }

    private static string Required(Dictionary<string, string?> options, string name) =>
        options.GetValueOrDefault(name) is { Length: > 0 } value ? value : throw new ArgumentException($"--{name} is required.");

    private static int? Number(Dictionary<string, string?> options, string name) =>
        options.GetValueOrDefault(name) is { } text
            ? int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) ? value : throw new FormatException($"--{name} must be a whole number.")
            : null;
}
