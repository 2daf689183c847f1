using System.Diagnostics;
using Npgsql;

namespace Dispatcher.Testing;

/// <summary>
/// A real PostgreSQL for tests. <see cref="SharedAsync"/> uses the server that <c>.ci/run</c> started
/// (<c>DISPATCHER_TEST_POSTGRES</c>) or, when there is none, starts a private one; <see cref="StartPrivateAsync"/>
/// always starts a private server in a temporary folder on a free loopback port, which a test may stop and
/// start again (an outage). Each test takes a database of its own with <see cref="CreateDatabaseAsync"/>.
/// Needs the PostgreSQL server binaries (Debian package <c>postgresql</c>).
/// </summary>
public sealed class PostgresServer : IAsyncDisposable
{
    public const string EnvironmentVariable = "DISPATCHER_TEST_POSTGRES";
    private static readonly SemaphoreSlim SharedGate = new(1, 1);
    private static PostgresServer? _shared;
    private readonly string? _dataDirectory;
    private readonly int _port;

    private PostgresServer(string connectionString, string? dataDirectory, int port)
    {
        ConnectionString = connectionString;
        _dataDirectory = dataDirectory;
        _port = port;
    }

    /// <summary>Connection string of the server's <c>postgres</c> database.</summary>
    public string ConnectionString { get; }

    /// <summary>The server every test of the process shares (never stopped by tests; a private one stops at process exit).</summary>
    public static async Task<PostgresServer> SharedAsync()
    {
        await SharedGate.WaitAsync();
        try
        {
            if (_shared is null)
            {
                if (Environment.GetEnvironmentVariable(EnvironmentVariable) is { Length: > 0 } given)
                {
                    _shared = new PostgresServer(given, null, 0);
                }
                else
                {
                    // A private shared server lives as long as the test process: stopped when it exits.
                    var server = await StartPrivateAsync();
                    AppDomain.CurrentDomain.ProcessExit += (_, _) => server.StopAtExit();
                    _shared = server;
                }
            }

            return _shared;
        }
        finally
        {
            SharedGate.Release();
        }
    }

    public static async Task<PostgresServer> StartPrivateAsync()
    {
        var bin = FindBinaries();
        var port = FreePort.Next();
        var directory = Path.Combine(Path.GetTempPath(), $"dispatcher-pg-{Guid.NewGuid():N}");
        Directory.CreateDirectory(directory);
        if (Environment.UserName == "root")
        {
            await RunAsync("chown", ["postgres", directory]);
        }

        await RunAsPostgresAsync(Path.Combine(bin, "initdb"), ["-D", $"{directory}/data", "-A", "trust", "-U", "postgres", "--no-sync"]);
        var server = new PostgresServer($"Host=127.0.0.1;Port={port};Username=postgres;Database=postgres;Timeout=3;Command Timeout=10", directory, port);
        await server.StartAgainAsync();
        return server;
    }

    /// <summary>Creates an empty database and returns its connection string.</summary>
    public async Task<string> CreateDatabaseAsync()
    {
        var name = $"test_{Guid.NewGuid():N}";
        await using (var connection = new NpgsqlConnection(ConnectionString))
        {
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand($"CREATE DATABASE {name}", connection);
            await command.ExecuteNonQueryAsync();
        }

        return new NpgsqlConnectionStringBuilder(ConnectionString) { Database = name }.ConnectionString;
    }

    /// <summary>Stops a private server at once, as a crash would (clients see their connections drop).</summary>
    public Task StopAsync() => RunAsPostgresAsync(PgCtl, StopArguments);

    /// <summary>Starts a private server (again) on the same port.</summary>
    public Task StartAgainAsync() =>
        RunAsPostgresAsync(PgCtl, ["-D", $"{_dataDirectory}/data", "-l", $"{_dataDirectory}/log",
            "-o", $"-p {_port} -c listen_addresses=127.0.0.1 -k {_dataDirectory} -c fsync=off", "-w", "start"]);

    public async ValueTask DisposeAsync()
    {
        if (_dataDirectory is null || ReferenceEquals(this, _shared))
        {
            return;
        }

        try
        {
            await StopAsync();
        }
        catch (InvalidOperationException)
        {
            // already stopped by the test
        }

        Directory.Delete(_dataDirectory, recursive: true);
    }

    /// <summary>
    /// Stops the server and deletes its folder from a detached shell: the test runner may kill this process (and
    /// its children) right after it exits, so nothing here may wait.
    /// </summary>
    private void StopAtExit()
    {
        var stop = AsPostgres(PgCtl, StopArguments);
        var start = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add($"( {stop}; rm -rf {Quote(_dataDirectory!)} ) >/dev/null 2>&1 &");
        using var shell = Process.Start(start);
        shell?.WaitForExit(TimeSpan.FromSeconds(5)); // the shell returns at once; the stop goes on without it
    }

    private string PgCtl => Path.Combine(FindBinaries(), "pg_ctl");

    private string[] StopArguments => ["-D", $"{_dataDirectory}/data", "-m", "immediate", "-w", "stop"];

    private static string FindBinaries()
    {
        var candidates = Directory.Exists("/usr/lib/postgresql")
            ? Directory.GetDirectories("/usr/lib/postgresql").Select(d => Path.Combine(d, "bin")).Where(d => File.Exists(Path.Combine(d, "initdb")))
            : [];
        return candidates.OrderByDescending(d => d, StringComparer.Ordinal).FirstOrDefault()
            ?? throw new InvalidOperationException($"PostgreSQL server binaries not found: install the 'postgresql' package, or set {EnvironmentVariable}.");
    }

    /// <summary>The server refuses to run as root, so as root its tools run as the postgres user.</summary>
    private static Task RunAsPostgresAsync(string program, string[] arguments) => RunAsync("/bin/sh", ["-c", AsPostgres(program, arguments)]);

    /// <summary>A shell command line running the program, as the postgres user when this process is root.</summary>
    private static string AsPostgres(string program, string[] arguments)
    {
        var line = string.Join(' ', arguments.Prepend(program).Select(Quote));
        return Environment.UserName == "root" ? $"su postgres -s /bin/sh -c {Quote(line)}" : line;
    }

    private static string Quote(string argument) => "'" + argument.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    private static async Task RunAsync(string program, string[] arguments)
    {
        var (exitCode, output, errors) = await ProgramRun.RunAsync(program, arguments, TimeSpan.FromSeconds(60));
        if (exitCode != 0)
        {
            throw new InvalidOperationException($"{program} {string.Join(' ', arguments)} failed ({exitCode}): {errors}{output}");
        }
    }
}
