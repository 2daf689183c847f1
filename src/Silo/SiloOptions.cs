namespace Dispatcher.Silo;

/// <summary>The <c>Dispatcher:Grains</c> section: how the silo manages activations.</summary>
public sealed class SiloOptions
{
    /// <summary>The configuration section name.</summary>
    public const string SectionName = "Dispatcher:Grains";

    /// <summary>An activation with no call for this long, and nothing to keep, is deactivated. Default 10 minutes.</summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>How often idle activations are looked for. Default 1 minute.</summary>
    public TimeSpan CollectionPeriod { get; set; } = TimeSpan.FromMinutes(1);
}
