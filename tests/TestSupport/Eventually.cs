namespace Dispatcher.Testing;

/// <summary>
/// Waits for a condition that another thread will make true (a grain turn, a server's counters). Polls
/// without sleeping the test's logic on a clock: the limit only bounds a test that would otherwise hang.
/// </summary>
public static class Eventually
{
    public static readonly TimeSpan Limit = TimeSpan.FromSeconds(20);

    public static async Task TrueAsync(Func<Task<bool>> condition, Func<string> describe)
    {
        var deadline = DateTime.UtcNow + Limit;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Condition not met within {Limit.TotalSeconds} s: {describe()}");
            }

            await Task.Delay(5);
        }
    }

    public static Task TrueAsync(Func<bool> condition, Func<string> describe) =>
        TrueAsync(() => Task.FromResult(condition()), describe);
}
