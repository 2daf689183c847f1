using System.Text.Json;
using System.Text.Json.Serialization;
using Dispatcher.Grains.Abstractions.Leases;

namespace Dispatcher.Silo.Remote;

/// <summary>
/// The wire format between frontends and silos: JSON (web casing, enums by name) over HTTP/2. A lease call's
/// answer is JSON lines (<see cref="LeaseEvent"/>). Models travel in bodies and queries, never in paths, because
/// model ids may contain <c>/</c>.
/// </summary>
public static class SiloProtocol
{
    /// <summary><c>GET</c>: the cluster view (<see cref="ClusterView"/>); any silo answers.</summary>
    public const string ClusterPath = "/internal/cluster";

    /// <summary><c>POST</c> a <see cref="LeaseCall"/>: waits for a lease; the call stays open while the lease is held.</summary>
    public const string LeasesPath = "/internal/leases";

    /// <summary><c>POST</c> an <see cref="AdoptCall"/>: registers a lease granted by the model's previous silo; held like a lease call.</summary>
    public const string AdoptPath = "/internal/leases/adopt";

    /// <summary><c>POST</c> a <see cref="ReleaseCall"/>: ends a lease with what is known of its request, and its call.</summary>
    public const string ReleasePath = "/internal/leases/release";

    /// <summary><c>GET ?model=</c>: the model's <c>ModelSnapshot</c>, from its owner only.</summary>
    public const string SnapshotPath = "/internal/models/snapshot";

    /// <summary>The media type of a lease call's answer: one <see cref="LeaseEvent"/> per line.</summary>
    public const string LeaseEventsContentType = "application/x-ndjson";

    public static JsonSerializerOptions Json { get; } = new(JsonSerializerDefaults.Web)
    {
        Converters = { new JsonStringEnumConverter() },
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    /// <summary><c>GET</c>: a token's <c>TokenLookup</c>.</summary>
    public static string TokenPath(string tokenId) => $"/internal/tokens/{tokenId}";

    /// <summary><c>GET</c>: a token's <c>TokenCounters</c> on that silo.</summary>
    public static string TokenCountersPath(string tokenId) => $"/internal/tokens/{tokenId}/counters";
}

/// <summary>The body of a lease call.</summary>
public sealed record LeaseCall(string Model, LeaseRequest Request);

/// <summary>The body of an adoption call.</summary>
public sealed record AdoptCall(string Model, LeaseAdoption Adoption);

/// <summary>The body of a release.</summary>
public sealed record ReleaseCall(string Model, LeaseRelease Release);

/// <summary>
/// One line of a lease call's answer. <c>queued</c> (with <see cref="Position"/>) comes first; then <c>granted</c>
/// (<see cref="LeaseId"/>, <see cref="Backend"/>) or <c>refused</c> (<see cref="Outcome"/>); an adoption call answers
/// <c>adopted</c>. <c>moved</c> at any point means the silo no longer hosts the model: a waiting request is submitted
/// again to the new owner, a granted lease is adopted there. A call that breaks without a line means the same.
/// </summary>
public sealed record LeaseEvent(
    string Type,
    int? Position = null,
    string? LeaseId = null,
    Uri? Backend = null,
    double? WaitedMs = null,
    LeaseOutcome? Outcome = null,
    double? RetryAfterMs = null)
{
    public const string Queued = "queued";
    public const string Granted = "granted";
    public const string Refused = "refused";
    public const string Adopted = "adopted";
    public const string Moved = "moved";
}

/// <summary>What a silo knows of the cluster: its live members and which one hosts each model.</summary>
/// <param name="Silos">Live silos.</param>
/// <param name="Models">Models whose owner holds them now; a model missing here is being taken over.</param>
public sealed record ClusterView(IReadOnlyList<SiloMember> Silos, IReadOnlyList<ModelOwner> Models);

/// <summary>A live silo.</summary>
public sealed record SiloMember(string SiloId, string Address);

/// <summary>Where a model's grains live.</summary>
/// <param name="Model">The model id.</param>
/// <param name="SiloId">The silo hosting it.</param>
/// <param name="Address">That silo's internal endpoint.</param>
/// <param name="Epoch">Grows with every change of owner.</param>
public sealed record ModelOwner(string Model, string SiloId, string Address, long Epoch);
