using Dispatcher.Silo.Remote;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Dispatcher.Silo.Cluster;

/// <summary>
/// Placement in a cluster: this silo's own models from <see cref="ModelOwnership"/>, the cluster view from the
/// database. Views are read at most every 100 ms and shared, so a burst of frontends re-resolving after a failover
/// costs one query.
/// </summary>
internal sealed class ClusterPlacement(ModelOwnership ownership, NpgsqlDataSource dataSource, IOptions<ClusterOptions> options, TimeProvider time) : IModelPlacement
{
    private static readonly TimeSpan Reuse = TimeSpan.FromMilliseconds(100);
    private readonly Lock _gate = new();
    private Task<ClusterView>? _view;
    private long _readAt;

    public bool IsLocal(string model) => ownership.Owns(model);

    public Task<ClusterView> GetViewAsync(CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (_view is null || _view.IsFaulted || _view.IsCanceled || (_view.IsCompleted && time.GetElapsedTime(_readAt) > Reuse))
            {
                _readAt = time.GetTimestamp();
                _view = ClusterDatabase.ReadViewAsync(dataSource, options.Value.MemberTimeout, CancellationToken.None);
            }

            return _view.WaitAsync(cancellationToken);
        }
    }
}
