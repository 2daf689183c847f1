namespace Dispatcher.Grains.Abstractions;

/// <summary>
/// Gives references to grains by key. A reference is cheap and may be kept; the grain is activated on
/// its first call and may be deactivated when idle, which callers never notice. Whether the grain runs
/// in this process or in a remote silo is the factory's business only.
/// </summary>
/// <remarks>Thread-safe.</remarks>
public interface IGrainFactory
{
    /// <summary>Returns a reference to the grain of type <typeparamref name="TGrain"/> with the given key.</summary>
    TGrain GetGrain<TGrain>(string key) where TGrain : class, IGrainWithStringKey;
}
