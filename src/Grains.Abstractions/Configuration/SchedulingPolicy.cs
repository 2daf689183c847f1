namespace Dispatcher.Grains.Abstractions.Configuration;

/// <summary>How a model's wait list is ordered.</summary>
public enum SchedulingPolicy
{
    /// <summary>Weighted fair sharing across tokens (start-time fair queuing), weight = priority; FIFO within a token.</summary>
    Fair,

    /// <summary>Highest priority first, with aging (<see cref="SchedulingOptions.AgingInterval"/>); FIFO within a token.</summary>
    Strict,
}
