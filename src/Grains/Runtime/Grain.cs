namespace Dispatcher.Grains.Runtime;

/// <summary>
/// Base class of grain implementations. The host runs every call, timer tick and lifecycle method of one
/// activation one at a time on that activation's scheduler (calls interleave only at awaits), so grain
/// state needs no locks. Grain code must therefore never use <c>ConfigureAwait(false)</c>.
/// </summary>
public abstract class Grain(IGrainContext context)
{
    /// <summary>The activation's key, timers and access to other grains.</summary>
    protected IGrainContext Context { get; } = context;

    /// <summary>The grain's key.</summary>
    public string Key => Context.Key;

    /// <summary>False while the grain holds state that would be lost if it were deactivated now.</summary>
    public virtual bool CanDeactivate => true;

    /// <summary>Runs once, before the first call is delivered.</summary>
    public virtual Task OnActivateAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Runs once, when the host deactivates the idle grain or shuts down.</summary>
    public virtual Task OnDeactivateAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
