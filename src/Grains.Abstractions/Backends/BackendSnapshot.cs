namespace Dispatcher.Grains.Abstractions.Backends;

/// <summary>What a replica can take, as its backend grain last saw it. Immutable; replaced whole.</summary>
/// <param name="Address">The replica's base address (scheme, host, port), the backend grain's key.</param>
/// <param name="Healthy">False while the replica is ejected; no lease is granted on it then.</param>
/// <param name="MaxConcurrentLeases">A hard cap on leases running on it at once; null for none.</param>
/// <param name="Version">Grows by one with every change, so an older snapshot never replaces a newer one.</param>
/// <param name="Load">The replica's load from its last scrape; null before the first, or without metrics.</param>
[GenerateSerializer, Immutable, Alias("dispatcher.BackendSnapshot")]
public sealed record BackendSnapshot(Uri Address, bool Healthy, int? MaxConcurrentLeases, long Version, ReplicaLoad? Load = null);
