using Dispatcher.Grains.Capacity;

namespace Dispatcher.Grains.Models;

/// <summary>A granted lease, held by the model grain until released.</summary>
/// <param name="LeaseId">The lease's id.</param>
/// <param name="RequestId">The HTTP request it serves.</param>
/// <param name="HolderId">The Frontend that holds it and renews it; null when it is never renewed (tests, tools).</param>
/// <param name="TokenId">The token it was granted to.</param>
/// <param name="Priority">The weight it was served with.</param>
/// <param name="Cost">The units of service charged when it arrived.</param>
/// <param name="Slot">The replica it runs on.</param>
/// <param name="GrantedAt">When it was granted.</param>
/// <param name="Adopted">True when it was granted by an earlier activation elsewhere and taken over here.</param>
internal sealed record ActiveLease(string LeaseId, string RequestId, string? HolderId, string TokenId, int Priority, long Cost, BackendSlot Slot, DateTimeOffset GrantedAt, bool Adopted);
