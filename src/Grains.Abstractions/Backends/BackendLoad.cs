namespace Dispatcher.Grains.Abstractions.Backends;

/// <summary>A replica as the model grain sees it: its last snapshot and the leases granted on it.</summary>
/// <param name="Snapshot">Its state from its backend grain.</param>
/// <param name="LeasesInFlight">The model's leases running on it.</param>
/// <param name="Draining">Discovery no longer sees it ready: no new leases; dropped after its last one.</param>
[GenerateSerializer, Immutable, Alias("dispatcher.BackendLoad")]
public sealed record BackendLoad(BackendSnapshot Snapshot, int LeasesInFlight, bool Draining = false);
