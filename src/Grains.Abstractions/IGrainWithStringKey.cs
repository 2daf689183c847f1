namespace Dispatcher.Grains.Abstractions;

/// <summary>
/// Marks a grain interface whose activations are identified by a string key, as in Orleans.
/// Every method of such an interface returns <see cref="Task"/> or <see cref="Task{TResult}"/>,
/// takes immutable records as arguments and a <see cref="CancellationToken"/> last.
/// </summary>
public interface IGrainWithStringKey;
