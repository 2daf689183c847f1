namespace Dispatcher.Grains.Abstractions.Configuration;

/// <summary>Groups priorities into a few classes, so metrics stay low-cardinality whatever the tokens' weights.</summary>
public static class PriorityClass
{
    /// <summary>"1", "2-4", "5-9", "10-99" or "100+".</summary>
    public static string Of(int priority) => priority switch
    {
        <= 1 => "1",
        <= 4 => "2-4",
        <= 9 => "5-9",
        <= 99 => "10-99",
        _ => "100+",
    };
}
