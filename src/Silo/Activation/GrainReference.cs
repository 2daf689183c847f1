using System.Reflection;

namespace Dispatcher.Silo.Activation;

/// <summary>
/// The object callers hold for a grain: a generated implementation of the grain interface whose every call
/// is delivered to the grain's activation (created on demand) as one turn. Not sealed: DispatchProxy derives from it.
/// </summary>
public class GrainReference : DispatchProxy
{
    private LocalSilo? _silo;
    private GrainId _id;

    internal void Bind(LocalSilo silo, GrainId id)
    {
        _silo = silo;
        _id = id;
    }

    /// <inheritdoc />
    protected override object? Invoke(MethodInfo? targetMethod, object?[]? args) =>
        _silo!.Invoke(_id, targetMethod!, args ?? []);

    /// <inheritdoc />
    public override string ToString() => _id.ToString();
}
