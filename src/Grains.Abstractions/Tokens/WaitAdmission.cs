namespace Dispatcher.Grains.Abstractions.Tokens;

/// <summary>What a token grain answers when one of its requests asks to wait (<see cref="ITokenGrain.TryEnterWaitingAsync"/>).</summary>
[GenerateSerializer, Alias("dispatcher.WaitAdmission")]
public enum WaitAdmission
{
    /// <summary>Counted as waiting.</summary>
    Admitted,

    /// <summary>The token already has <see cref="TokenPolicy.Threshold"/> requests waiting.</summary>
    OverThreshold,

    /// <summary>The token is not (or no longer) known: revoked after a frontend authenticated it from its cache.</summary>
    UnknownToken,

    /// <summary>The token's policy cannot be read (the token store is unreachable and it was never cached).</summary>
    StoreUnavailable,
}
