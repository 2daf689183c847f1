using System.Diagnostics;
using Dispatcher.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Dispatcher.Deploy.Tests;

/// <summary>
/// The preStop hook the chart gives vLLM pods, run as rendered (python3) against a fake replica serving a real vLLM
/// <c>/metrics</c> capture: it holds the pod while requests run or wait, and lets it go once there are none.
/// </summary>
public sealed class VllmDrainHookTests
{
    [Fact]
    public async Task DrainHook_WaitsWhileTheReplicaHasRequestsAndEndsOnceItHasNone()
    {
        var port = FreePort.Next();
        var rendered = await Chart.TemplateWithAsync($"vllm:\n  port: {port}\n  drainSeconds: 120\n");
        var command = rendered.Objects("Deployment").First(d => d.Name().Contains("-vllm-", StringComparison.Ordinal))
            .GetProperty("spec").GetProperty("template").GetProperty("spec").GetProperty("containers")[0]
            .GetProperty("lifecycle").GetProperty("preStop").GetProperty("exec").GetProperty("command")
            .EnumerateArray().Select(a => a.GetString()!).ToList();

        var idle = await File.ReadAllTextAsync(Path.Combine(Chart.Repository, "..", "shared", "fixtures", "vllm-metrics-v1.txt"));
        var busy = idle.Replace("vllm:num_requests_running{engine=\"0\",model_name=\"llama-vllm-single\"} 0.0",
            "vllm:num_requests_running{engine=\"0\",model_name=\"llama-vllm-single\"} 3.0", StringComparison.Ordinal);
        Assert.NotEqual(idle, busy);
        var metrics = busy;
        var scrapes = 0;
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        await using var replica = builder.Build();
        replica.MapGet("/metrics", () =>
        {
            Interlocked.Increment(ref scrapes);
            return Results.Text(Volatile.Read(ref metrics), "text/plain; version=0.0.4");
        });
        await replica.StartAsync();

        var start = new ProcessStartInfo(command[0]) { UseShellExecute = false };
        command.Skip(1).ToList().ForEach(start.ArgumentList.Add);
        using var hook = Process.Start(start)!;
        try
        {
            // It first waits for the dispatcher to see the pod unready, then polls: still busy, so it must hold on.
            await Eventually.TrueAsync(() => Task.FromResult(Volatile.Read(ref scrapes) >= 2), () => $"the hook scraped {scrapes} times");
            Assert.False(hook.HasExited, "the hook ended while requests ran");

            Volatile.Write(ref metrics, idle);
            await hook.WaitForExitAsync().WaitAsync(Eventually.Limit);
            Assert.Equal(0, hook.ExitCode);
        }
        finally
        {
            if (!hook.HasExited)
            {
                hook.Kill();
            }
        }
    }
}
