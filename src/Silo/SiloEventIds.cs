namespace Dispatcher.Silo;

/// <summary>Stable event ids of the silo's log messages (2000-2999).</summary>
internal static class SiloEventIds
{
    public const int TokenLookupFailed = 2004;
    public const int TokenListenerListening = 2005;
    public const int TokenListenerLost = 2006;
    public const int Migrated = 2007;
    public const int MigrationWaiting = 2008;
    public const int ReplicasFound = 2009;
    public const int DiscoveryFailed = 2010;
}
