namespace Dispatcher.Frontend.Tests;

/// <summary>
/// Tests that measure token rates run alone, so other tests' CPU use on this 2-core machine does not skew the
/// rates they check (their logic has no clock to fake: the replicas are real servers).
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TimingSensitive
{
    public const string Name = "Timing-sensitive";
}
