namespace Dispatcher.Silo.Activation;

/// <summary>Identifies one grain: its interface and key.</summary>
internal readonly record struct GrainId(Type Interface, string Key)
{
    public override string ToString() => $"{Interface.Name}/{Key}";
}
