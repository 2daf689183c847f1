namespace Dispatcher.Grains.Backends;

/// <summary>The outcome of a scrape: the exposition text, or why there is none.</summary>
public sealed record ProbeResult(string? Text, string? Error)
{
    public static ProbeResult Success(string text) => new(text, null);

    public static ProbeResult Failure(string error) => new(null, error);
}
