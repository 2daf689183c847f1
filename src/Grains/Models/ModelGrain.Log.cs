using Microsoft.Extensions.Logging;

namespace Dispatcher.Grains.Models;

internal sealed partial class ModelGrain
{
    private static partial class Log
    {
        [LoggerMessage(GrainsEventIds.ModelActivated, LogLevel.Information, "Model {Model} activated with {BackendCount} replicas")]
        public static partial void Activated(ILogger logger, string model, int backendCount);

        [LoggerMessage(GrainsEventIds.LeaseGranted, LogLevel.Debug, "Lease {LeaseId} for request {RequestId} on {Backend} after {WaitedMs} ms")]
        public static partial void Granted(ILogger logger, string leaseId, string requestId, Uri backend, double waitedMs);

        [LoggerMessage(GrainsEventIds.LeaseReleased, LogLevel.Debug, "Lease {LeaseId} released: {Reason}, status {StatusCode}")]
        public static partial void Released(ILogger logger, string leaseId, string reason, int? statusCode);

        [LoggerMessage(GrainsEventIds.LeaseAdopted, LogLevel.Information, "Lease {LeaseId} of request {RequestId} on {Backend} adopted from an earlier activation")]
        public static partial void Adopted(ILogger logger, string leaseId, string requestId, Uri backend);

        [LoggerMessage(GrainsEventIds.AdoptionRefused, LogLevel.Warning, "Lease {LeaseId} on {Backend} not adopted: not a replica of {Model}")]
        public static partial void AdoptionRefused(ILogger logger, string leaseId, Uri backend, string model);

        [LoggerMessage(GrainsEventIds.LeaseExpired, LogLevel.Warning, "Lease {LeaseId} on {Backend} outlived {MaxLifetime} and was taken back")]
        public static partial void Expired(ILogger logger, string leaseId, Uri backend, TimeSpan maxLifetime);

        [LoggerMessage(GrainsEventIds.WaiterTimedOut, LogLevel.Information, "Request {RequestId} for {Model} timed out after {WaitedMs} ms in the wait list")]
        public static partial void TimedOut(ILogger logger, string requestId, string model, double waitedMs);

        [LoggerMessage(GrainsEventIds.HolderLost, LogLevel.Warning, "Frontend {HolderId} stopped renewing on {Model}: {Waiters} waiting requests and {Leases} leases dropped")]
        public static partial void HolderLost(ILogger logger, string holderId, string model, int waiters, int leases);

        [LoggerMessage(GrainsEventIds.WaitersStopped, LogLevel.Information, "Model {Model}'s grain stopping (its silo stops or it deactivates): {Waiters} waiting requests sent back to be submitted again")]
        public static partial void WaitersStopped(ILogger logger, string model, int waiters);

        [LoggerMessage(GrainsEventIds.ModelDeactivating, LogLevel.Information, "Model {Model}'s grain deactivating ({Reason}) with {Leases} leases")]
        public static partial void Deactivating(ILogger logger, string model, string reason, int leases);

        [LoggerMessage(GrainsEventIds.ReplicaJoined, LogLevel.Information, "Replica {Backend} joined {Model}")]
        public static partial void ReplicaJoined(ILogger logger, Uri backend, string model);

        [LoggerMessage(GrainsEventIds.ReplicaDraining, LogLevel.Information, "Replica {Backend} of {Model} is no longer ready: draining ({Leases} leases running, no new ones)")]
        public static partial void ReplicaDraining(ILogger logger, Uri backend, string model, int leases);

        [LoggerMessage(GrainsEventIds.ReplicaJoined, LogLevel.Information, "Replica {Backend} of {Model} is ready again: serving")]
        public static partial void ReplicaReady(ILogger logger, Uri backend, string model);

        [LoggerMessage(GrainsEventIds.ReplicaDropped, LogLevel.Information, "Replica {Backend} of {Model} drained and dropped")]
        public static partial void ReplicaDropped(ILogger logger, Uri backend, string model);

        [LoggerMessage(GrainsEventIds.GrainCallFailed, LogLevel.Warning, "Model {Model}: a call to another grain ({Method}) failed or did not answer in time ({Error}); going on without it")]
        public static partial void GrainCallFailed(ILogger logger, string model, string method, string error);

        [LoggerMessage(GrainsEventIds.BackendChanged, LogLevel.Trace, "Replica {Backend} of {Model}: healthy {Healthy}, running {Running}, {PerUserRate} tokens/s per user")]
        public static partial void BackendChanged(ILogger logger, Uri backend, string model, bool healthy, int running, double perUserRate);
    }
}
