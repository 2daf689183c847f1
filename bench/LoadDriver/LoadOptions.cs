namespace Dispatcher.LoadDriver;

/// <summary>One load run. Loopback only: the driver refuses any other host.</summary>
public sealed record LoadOptions
{
    public required Uri BaseAddress { get; init; }

    public string? Token { get; init; }

    public string Model { get; init; } = "demo-model";

    /// <summary>Requests in flight at once (closed loop), when <see cref="RatePerSecond"/> is null.</summary>
    public int Concurrency { get; init; } = 1;

    /// <summary>Open loop: requests started per second, whatever the answers.</summary>
    public double? RatePerSecond { get; init; }

    /// <summary>Stop after this many requests...</summary>
    public int MaxRequests { get; init; } = int.MaxValue;

    /// <summary>...or after this long, whichever comes first.</summary>
    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(10);

    public bool Stream { get; init; } = true;

    public int MaxTokens { get; init; } = 16;

    /// <summary>Chat completions (default) or completions.</summary>
    public string Route { get; init; } = "/v1/chat/completions";
}
