using Dispatcher.Grains.Scheduling;

namespace Dispatcher.Benchmarks;

/// <summary>The baseline: first come, first served, whatever the priority (vLLM's own default, nginx in front).</summary>
internal sealed class FifoOrder : ServiceOrder
{
    public override long KeyAtFront(Waiter front, Flow flow) => front.Sequence;
}
