namespace Dispatcher.Grains.Abstractions.Backends;

/// <summary>A replica as the model grain sees it: its last snapshot and the leases granted on it.</summary>
[GenerateSerializer, Immutable, Alias("dispatcher.BackendLoad")]
public sealed record BackendLoad(BackendSnapshot Snapshot, int LeasesInFlight);
