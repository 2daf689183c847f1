using Dispatcher.Grains.Capacity;

namespace Dispatcher.Grains.Models;

/// <summary>A granted lease, held by the model grain until released.</summary>
internal sealed record ActiveLease(string LeaseId, string TokenId, BackendSlot Slot, DateTimeOffset GrantedAt);
