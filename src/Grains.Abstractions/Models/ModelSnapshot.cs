using Dispatcher.Grains.Abstractions.Backends;

namespace Dispatcher.Grains.Abstractions.Models;

/// <summary>A model's state at one instant.</summary>
/// <param name="Model">The model id.</param>
/// <param name="Waiting">Requests in the wait list.</param>
/// <param name="InFlight">Leases granted and not yet released.</param>
/// <param name="Backends">Each replica with the leases this model holds on it.</param>
/// <param name="WaitingByToken">Who is waiting: one entry per token with requests in the wait list.</param>
/// <param name="Leases">The leases in flight.</param>
[GenerateSerializer, Immutable, Alias("dispatcher.ModelSnapshot")]
public sealed record ModelSnapshot(
    string Model,
    int Waiting,
    int InFlight,
    IReadOnlyList<BackendLoad> Backends,
    IReadOnlyList<WaitingTokens>? WaitingByToken = null,
    IReadOnlyList<LeaseView>? Leases = null);
