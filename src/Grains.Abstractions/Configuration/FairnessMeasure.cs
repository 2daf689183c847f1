namespace Dispatcher.Grains.Abstractions.Configuration;

/// <summary>What fair sharing counts as a unit of service.</summary>
public enum FairnessMeasure
{
    /// <summary>Each granted request costs one unit.</summary>
    Requests,

    /// <summary>Each request costs the tokens it generated, reported when its lease is released.</summary>
    Tokens,
}
