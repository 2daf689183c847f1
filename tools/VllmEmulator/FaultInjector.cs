namespace Dispatcher.VllmEmulator;

/// <summary>Holds the current <see cref="FaultPlan"/> and hands it to the requests it applies to. Thread-safe.</summary>
public sealed class FaultInjector
{
    private readonly Lock _gate = new();
    private FaultPlan? _plan;
    private int _remaining;

    /// <summary>Whether a plan still waits for requests to apply to.</summary>
    public bool Pending
    {
        get
        {
            lock (_gate)
            {
                return _plan is not null;
            }
        }
    }

    /// <summary>Applies <paramref name="plan"/> to the next requests, replacing any previous plan.</summary>
    public void Set(FaultPlan plan)
    {
        lock (_gate)
        {
            _plan = plan;
            _remaining = plan.Count;
        }
    }

    /// <summary>Stops injecting faults.</summary>
    public void Clear()
    {
        lock (_gate)
        {
            _plan = null;
        }
    }

    /// <summary>The plan for the request arriving now, or null.</summary>
    public FaultPlan? Take()
    {
        lock (_gate)
        {
            if (_plan is null)
            {
                return null;
            }

            var plan = _plan;
            if (plan.Count > 0 && --_remaining <= 0)
            {
                _plan = null;
            }

            return plan;
        }
    }
}
