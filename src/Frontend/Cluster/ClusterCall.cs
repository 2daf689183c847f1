using Dispatcher.Silo.Hosting;
using Microsoft.Extensions.Options;

namespace Dispatcher.Frontend.Cluster;

/// <summary>
/// Makes a short grain call that survives a silo's death: each try is bounded (a call to a silo that died may never
/// answer, even when cancelled, so it is raced against its timeout), failures of the cluster are tried again every
/// 100 ms, and after <see cref="ClusterOptions.FailoverTimeout"/> the caller gets no value (then: 503
/// <c>dispatcher_unavailable</c>). Thread-safe.
/// </summary>
internal sealed class ClusterCall(IOptions<ClusterOptions> options, TimeProvider time)
{
    /// <summary>Pause between two tries.</summary>
    public static readonly TimeSpan RetryPause = TimeSpan.FromMilliseconds(100);

    /// <summary>The longest one try of a short call may take.</summary>
    private static readonly TimeSpan TryTimeout = TimeSpan.FromSeconds(2);

    /// <summary>True for failures of a call into the cluster that another try may not meet (a silo died or stops).</summary>
    public static bool IsClusterFailure(Exception exception) => exception is OrleansException or TimeoutException;

    /// <summary>The call's answer, or null when no silo answered within the failover timeout.</summary>
    /// <exception cref="OperationCanceledException"><paramref name="aborted"/> was cancelled (the client left).</exception>
    public async Task<T?> TryAsync<T>(Func<CancellationToken, Task<T>> call, CancellationToken aborted)
        where T : class
    {
        var started = time.GetTimestamp();
        while (true)
        {
            using (var attempt = CancellationTokenSource.CreateLinkedTokenSource(aborted))
            {
                attempt.CancelAfter(TryTimeout);
                try
                {
                    return await call(attempt.Token).WaitAsync(attempt.Token);
                }
                catch (OperationCanceledException) when (!aborted.IsCancellationRequested)
                {
                    // This try took too long: its silo is probably gone.
                }
                catch (Exception exception) when (IsClusterFailure(exception))
                {
                    // No silo took it; membership will show another soon.
                }
            }

            if (time.GetElapsedTime(started) > options.Value.FailoverTimeout)
            {
                return null;
            }

            await Task.Delay(RetryPause, time, aborted);
        }
    }
}
