namespace Dispatcher.Silo;

/// <summary>Stable event ids of the silo's log messages (2000-2999).</summary>
internal static class SiloEventIds
{
    public const int Activated = 2000;
    public const int Deactivated = 2001;
    public const int ActivationFailed = 2002;
    public const int TimerFailed = 2003;
    public const int TokenLookupFailed = 2004;
    public const int TokenListenerListening = 2005;
    public const int TokenListenerLost = 2006;
    public const int Migrated = 2007;
    public const int MigrationWaiting = 2008;
    public const int ClusterJoined = 2009;
    public const int ClusterTaking = 2010;
    public const int ClusterTook = 2011;
    public const int ClusterHandedOver = 2012;
    public const int ClusterLost = 2013;
    public const int ClusterMemberDead = 2014;
    public const int ClusterSessionLost = 2015;
    public const int ClusterHandoverSlow = 2016;
    public const int ClusterLeft = 2017;
    public const int ClusterPreviousOwnerGone = 2018;
    public const int ClientViewUnavailable = 2100;
    public const int ClientNoSilo = 2101;
    public const int ClientResubmitted = 2102;
    public const int ClientAdopted = 2103;
    public const int ClientAdoptionFailed = 2104;
    public const int ClientReleaseFailed = 2105;
    public const int ClientSiloUnavailable = 2106;
}
