namespace Dispatcher.Grains.Abstractions.Backends;

/// <summary>What a replica can take, as its backend grain last saw it. Immutable; replaced whole.</summary>
/// <param name="Address">The replica's base address (scheme, host, port), the backend grain's key.</param>
/// <param name="Healthy">False while the replica is ejected; no lease is granted on it then.</param>
/// <param name="MaxConcurrentLeases">The most leases that may run on it at once.</param>
/// <param name="Version">Grows by one with every change, so an older snapshot never replaces a newer one.</param>
public sealed record BackendSnapshot(Uri Address, bool Healthy, int MaxConcurrentLeases, long Version);
