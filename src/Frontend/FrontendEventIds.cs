namespace Dispatcher.Frontend;

/// <summary>Stable event ids of the Frontend's log messages (3000-3999).</summary>
internal static class FrontendEventIds
{
    public const int Refused = 3000;
    public const int Forwarded = 3001;
    public const int UpstreamFailed = 3002;
    public const int ClientAborted = 3003;
    public const int TokenRejected = 3004;
    public const int EndedByDispatcher = 3005;
    public const int AuthThrottled = 3006;
    public const int SiloCallFailed = 3007;
    public const int Resubmitting = 3008;
    public const int RenewalFailed = 3009;
    public const int ReleaseFailed = 3010;
    public const int GivingUp = 3011;
    public const int SiloStopping = 3012;
}
