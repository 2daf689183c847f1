namespace Dispatcher.Grains.Abstractions;

/// <summary>
/// Grain references on the request path. <see cref="IGrainFactory.GetGrain{TGrainInterface}(string, string?)"/> resolves
/// the interface's grain type on every call, reading the interface's attributes by reflection: about 5 % of the
/// Frontend's processor time per request (bench/RESULTS.md, 2026-12-02). Here it is resolved once per interface, and
/// each reference is made from its grain id.
/// </summary>
public static class GrainReferences
{
    /// <summary>The same reference as <c>GetGrain&lt;TGrain&gt;(key)</c>, made without resolving the grain type again.</summary>
    public static TGrain GetGrainByKey<TGrain>(this IGrainFactory grains, string key)
        where TGrain : IGrainWithStringKey
    {
        var types = TypesOf<TGrain>.Resolved ??= Resolve<TGrain>(grains);
        return (TGrain)grains.GetGrain(GrainId.Create(types.Grain, key), types.Interface);
    }

    private static ResolvedTypes Resolve<TGrain>(IGrainFactory grains)
        where TGrain : IGrainWithStringKey
    {
        var reference = (GrainReference)(object)grains.GetGrain<TGrain>("resolve");
        return new ResolvedTypes(reference.GrainId.Type, reference.InterfaceType);
    }

    /// <summary>A class, so that it is published whole to other threads.</summary>
    private sealed record ResolvedTypes(GrainType Grain, GrainInterfaceType Interface);

    private static class TypesOf<TGrain>
    {
        public static ResolvedTypes? Resolved;
    }
}
