using System.Diagnostics;
using System.Diagnostics.Tracing;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Microsoft.Diagnostics.NETCore.Client;
using Microsoft.Diagnostics.Tracing;

namespace Dispatcher.Benchmarks;

/// <summary>Starts the pieces of a benchmark as separate processes on loopback and stops them afterwards.</summary>
internal sealed class Processes : IAsyncDisposable
{
    private readonly List<Process> _started = [];
    private readonly Dictionary<Uri, Process> _byAddress = [];

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>An emulated vLLM replica; returns its base address.</summary>
    public Task<Uri> EmulatorAsync(params string[] settings)
    {
        var port = FreePort();
        return StartAsync(Path.Combine(AppContext.BaseDirectory, "Dispatcher.VllmEmulator"), ["--urls", $"http://127.0.0.1:{port}", .. settings], port, "/health");
    }

    /// <summary>The dispatcher (HTTP/1.1, plus an HTTP/2 cleartext endpoint when asked); returns its address and process.</summary>
    public async Task<(Uri Address, Process Process)> DispatcherAsync(params string[] settings) => await DispatcherAsync(null, settings);

    public async Task<(Uri Address, Process Process)> DispatcherAsync(int? http2Port, params string[] settings)
    {
        var port = FreePort();
        string[] endpoints = http2Port is { } h2
            ? [$"--Kestrel:Endpoints:h1:Url=http://127.0.0.1:{port}", $"--Kestrel:Endpoints:h2:Url=http://127.0.0.1:{h2}", "--Kestrel:Endpoints:h2:Protocols=Http2"]
            : ["--urls", $"http://127.0.0.1:{port}"];
        // A co-hosted silo gets its own loopback ports, so several dispatchers can run side by side.
        var address = await StartAsync(Path.Combine(AppContext.BaseDirectory, "Dispatcher.Frontend"),
            [.. endpoints, "--Logging:LogLevel:Default=Warning", $"--Dispatcher:Cluster:SiloPort={FreePort()}", $"--Dispatcher:Cluster:GatewayPort={FreePort()}", .. settings],
            port, "/health/ready");
        return (address, _started[^1]);
    }

    /// <summary>
    /// A silo as its own process (<c>Dispatcher.Silo serve</c>) joining the Orleans cluster kept in
    /// <paramref name="postgres"/> on loopback ports; frontends in client mode find it through the same database.
    /// </summary>
    /// <returns>Its management address, its silo endpoint as <c>/cluster</c> names it, and its process.</returns>
    public async Task<(Uri Management, string Endpoint, Process Process)> SiloAsync(string postgres, params string[] settings)
    {
        var (managementPort, siloPort) = (FreePort(), FreePort());
        var management = await StartAsync(Path.Combine(AppContext.BaseDirectory, "Dispatcher.Silo"),
            ["serve", "--urls", $"http://127.0.0.1:{managementPort}", $"--ConnectionStrings:Postgres={postgres}",
             $"--Dispatcher:Cluster:SiloPort={siloPort}", $"--Dispatcher:Cluster:GatewayPort={FreePort()}", "--Dispatcher:Cluster:AdvertisedAddress=127.0.0.1",
             "--Logging:LogLevel:Default=Warning", .. settings],
            managementPort, "/health/ready");
        return (management, $"127.0.0.1:{siloPort}", _started[^1]);
    }

    /// <summary>nginx from Debian as a plain round-robin reverse proxy without buffering in front of the replicas.</summary>
    public async Task<Uri> NginxAsync(IReadOnlyList<Uri> replicas)
    {
        var port = FreePort();
        var directory = Path.Combine(Path.GetTempPath(), $"dispatcher-nginx-{Guid.NewGuid():N}");
        Directory.CreateDirectory(directory);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(directory, (UnixFileMode)0b111_111_111); // nginx workers run as nobody
        }

        var servers = string.Join("\n", replicas.Select(r => $"    server {r.Host}:{r.Port};"));
        var config = $$"""
            worker_processes 2;
            daemon off;
            pid {{directory}}/nginx.pid;
            error_log {{directory}}/error.log warn;
            events { worker_connections 8192; }
            http {
              access_log off;
              client_body_temp_path {{directory}}/body;
              proxy_temp_path {{directory}}/proxy;
              fastcgi_temp_path {{directory}}/fastcgi;
              uwsgi_temp_path {{directory}}/uwsgi;
              scgi_temp_path {{directory}}/scgi;
              upstream vllm {
            {{servers}}
                keepalive 256;
              }
              server {
                listen 127.0.0.1:{{port}};
                location / {
                  proxy_pass http://vllm;
                  proxy_http_version 1.1;
                  proxy_set_header Connection "";
                  proxy_buffering off;
                  proxy_request_buffering off;
                  proxy_read_timeout 3600s;
                }
              }
            }
            """;
        var file = Path.Combine(directory, "nginx.conf");
        await File.WriteAllTextAsync(file, config);
        return await StartAsync("/usr/sbin/nginx", ["-c", file, "-p", directory], port, "/health");
    }

    /// <summary>Kestrel and YARP alone, round-robin over <paramref name="replicas"/> (<see cref="BareProxy"/>).</summary>
    public Task<Uri> BareProxyAsync(IReadOnlyList<Uri> replicas)
    {
        var port = FreePort();
        return StartAsync(Path.Combine(AppContext.BaseDirectory, "Dispatcher.Benchmarks"),
            ["bare-proxy", $"http://127.0.0.1:{port}", .. replicas.Select(r => r.ToString())], port, "/health");
    }

    /// <summary>The process serving <paramref name="address"/>, as one of the methods above returned it.</summary>
    public Process At(Uri address) => _byAddress[address];

    /// <summary>Processor time (user and system) used so far by a process and its children (nginx's workers), in seconds.</summary>
    public static double ProcessorSeconds(Process process)
    {
        var ticks = 0L;
        var parents = new Dictionary<int, int>();
        var used = new Dictionary<int, long>();
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(directory), out var pid))
            {
                continue;
            }

            try
            {
                // Fields after the command's closing parenthesis: state ppid ... utime (14th field) stime (15th).
                var stat = File.ReadAllText(Path.Combine(directory, "stat"));
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                parents[pid] = int.Parse(fields[1], CultureInfo.InvariantCulture);
                used[pid] = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
            }
            catch (IOException)
            {
                // it exited meanwhile
            }
        }

        foreach (var (pid, time) in used)
        {
            for (var p = pid; p > 1; p = parents.GetValueOrDefault(p))
            {
                if (p == process.Id)
                {
                    ticks += time;
                    break;
                }
            }
        }

        return ticks / 100.0; // USER_HZ
    }

    /// <summary>Resident memory of a process in bytes (VmRSS).</summary>
    public static long ResidentBytes(Process process)
    {
        var line = File.ReadLines($"/proc/{process.Id}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
    }

    /// <summary>
    /// Has <paramref name="process"/> (a .NET process) run a full blocking collection, the way dotnet-gcdump does: an
    /// EventPipe session that asks for a GC heap collection. Returns once that collection ended (its heap statistics
    /// event came), so the managed heap then holds only what is still reachable.
    /// </summary>
    public static async Task CollectGarbageAsync(Process process)
    {
        const long gcKeyword = 0x1, gcHeapCollectKeyword = 0x800000;
        var client = new DiagnosticsClient(process.Id);
        using var session = client.StartEventPipeSession(
            [new EventPipeProvider("Microsoft-Windows-DotNETRuntime", EventLevel.Informational, gcKeyword | gcHeapCollectKeyword)],
            requestRundown: false);
        var ended = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var reading = Task.Run(() =>
        {
            using var source = new EventPipeEventSource(session.EventStream);
            source.Clr.GCHeapStats += _ => ended.TrySetResult();
            source.Process();
        });
        try
        {
            await ended.Task.WaitAsync(TimeSpan.FromSeconds(30));
        }
        finally
        {
            await session.StopAsync(CancellationToken.None);
            await reading.WaitAsync(TimeSpan.FromSeconds(10));
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var process in _started)
        {
            try
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
            }
            catch (Exception exception) when (exception is InvalidOperationException or TimeoutException)
            {
            }

            process.Dispose();
        }
    }

    private static async Task CopyAsync(StreamReader output, string? file)
    {
        if (file is null)
        {
            await output.ReadToEndAsync();
            return;
        }

        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        await using var writer = new StreamWriter(file, append: true) { AutoFlush = true };
        while (await output.ReadLineAsync() is { } line)
        {
            await writer.WriteLineAsync(line);
        }
    }

    private async Task<Uri> StartAsync(string program, string[] arguments, int port, string readyPath)
    {
        var start = new ProcessStartInfo(program) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException($"{program} did not start");
        _started.Add(process);
        // Its output is read (a full pipe would block it) and kept only when DISPATCHER_BENCH_LOGS names a folder.
        var logs = Environment.GetEnvironmentVariable("DISPATCHER_BENCH_LOGS");
        var log = string.IsNullOrEmpty(logs) ? null : Path.Combine(logs, $"{Path.GetFileName(program)}-{port}.log");
        _ = CopyAsync(process.StandardOutput, log);
        _ = CopyAsync(process.StandardError, log is null ? null : log + ".err");
        var address = new Uri($"http://127.0.0.1:{port}");
        _byAddress[address] = process;
        using var http = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(2) };
        for (var attempt = 0; attempt < 150; attempt++)
        {
            try
            {
                using var response = await http.GetAsync(readyPath);
                if ((int)response.StatusCode < 500)
                {
                    return address;
                }
            }
            catch (Exception exception) when (exception is HttpRequestException or TaskCanceledException)
            {
            }

            await Task.Delay(100);
        }

        throw new InvalidOperationException($"{program} did not answer on {address}{readyPath}");
    }
}
