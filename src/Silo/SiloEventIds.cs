namespace Dispatcher.Silo;

/// <summary>Stable event ids of the silo's log messages (2000-2999).</summary>
internal static class SiloEventIds
{
    public const int Activated = 2000;
    public const int Deactivated = 2001;
    public const int ActivationFailed = 2002;
    public const int TimerFailed = 2003;
}
