namespace Dispatcher.Grains.Runtime;

/// <summary>Maps a grain interface to the class the host activates for it.</summary>
/// <param name="Interface">The grain interface, deriving from <c>IGrainWithStringKey</c>.</param>
/// <param name="Implementation">A class deriving from <see cref="Grain"/> that implements it; its constructor
/// takes an <see cref="IGrainContext"/> and services from the container.</param>
public sealed record GrainRegistration(Type Interface, Type Implementation);
