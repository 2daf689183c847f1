using Dispatcher.Grains.Abstractions;
using Dispatcher.Frontend.Errors;
using Dispatcher.Frontend.Telemetry;
using Dispatcher.Frontend.Cluster;
using Dispatcher.Grains.Abstractions.Tokens;
using Microsoft.Extensions.Primitives;

namespace Dispatcher.Frontend.Auth;

/// <summary>
/// Authenticates every <c>/v1</c> request by its bearer token: hashes the secret, asks the token's grain for
/// its policy (unless the <see cref="TokenPolicyCache"/> has it) and stores an <see cref="AuthenticatedToken"/> as a request feature. The secret is hashed
/// at once and never logged, stored or passed on. A refusal is written here and the filter returns
/// <see cref="Results.Empty"/>: a null result is written by minimal APIs as a JSON <c>null</c> after the error, which threw
/// (the response had started) and broke the connection for the client's next request.
/// </summary>
internal sealed partial class BearerTokenFilter(
    IGrainFactory grains, TokenPolicyCache policies, ClusterCall cluster, FailedAuthLimiter limiter, FrontendMetrics metrics, ILogger<BearerTokenFilter> logger)
    : IEndpointFilter
{
    private const string Scheme = "Bearer ";

    public ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext invocation, EndpointFilterDelegate next)
    {
        var context = invocation.HttpContext;
        var address = context.Connection.RemoteIpAddress;
        if (limiter.Blocked(address) is { } wait)
        {
            Log.Throttled(logger, address?.ToString() ?? "unknown");
            metrics.AuthFailure("throttled");
            return RefuseAsync(context, DispatcherError.TooManyFailedAttempts,
                "Too many failed authentications from this address; try again later.", retryAfter: wait);
        }

        if (!TryGetSecret(context.Request.Headers.Authorization, out var secret))
        {
            limiter.Failed(address);
            Log.TokenRejected(logger, "missing or malformed Authorization header");
            metrics.AuthFailure("missing");
            return RefuseAsync(context, DispatcherError.MissingToken,
                "You didn't provide an API key. Send it in the Authorization header as 'Bearer YOUR_KEY'.");
        }

        var tokenId = TokenHash.Compute(secret);
        if (policies.Find(tokenId) is { } known)
        {
            // The common case goes on without a state machine of this filter: one awaiting the endpoint would stay alive
            // for the whole request, waiting in a queue included.
            context.Features.Set(known);
            return next(invocation);
        }

        return LookUpAsync(invocation, next, tokenId);
    }

    /// <summary>Asks the token's grain for the policy this Frontend has not cached, then goes on or refuses.</summary>
    private async ValueTask<object?> LookUpAsync(EndpointFilterInvocationContext invocation, EndpointFilterDelegate next, string tokenId)
    {
        var context = invocation.HttpContext;
        var lookup = await policies.LookUpAsync(tokenId, LookUpAtGrainAsync, context.RequestAborted);
        if (lookup is null)
        {
            metrics.AuthFailure("dispatcher_unavailable");
            return await RefuseAsync(context, DispatcherError.SiloUnavailable,
                "The dispatcher cannot reach its scheduler right now (a node is being replaced). Retry shortly.", retryAfter: TimeSpan.FromSeconds(2));
        }

        switch (lookup.Status)
        {
            case TokenLookupStatus.Found:
                var found = new AuthenticatedToken(tokenId, lookup.Policy!);
                policies.Put(found);
                context.Features.Set(found);
                return await next(invocation);
            case TokenLookupStatus.StoreUnavailable:
                metrics.AuthFailure("store_unavailable");
                return await RefuseAsync(context, DispatcherError.TokenStoreUnavailable,
                    "The token store cannot be reached right now; try again shortly.", retryAfter: TimeSpan.FromSeconds(5));
            default:
                Log.TokenRejected(logger, "unknown token");
                limiter.Failed(context.Connection.RemoteIpAddress);
                metrics.AuthFailure("unknown");
                return await RefuseAsync(context, DispatcherError.UnknownToken, "Incorrect API key provided.");
        }
    }

    /// <summary>One lookup at the token's grain, shared by the requests that need it meanwhile (not cancelled by one that leaves).</summary>
    private Task<TokenLookup?> LookUpAtGrainAsync(string tokenId) =>
        cluster.TryAsync(grains.GetGrainByKey<ITokenGrain>(tokenId).GetPolicyAsync, CancellationToken.None);

    /// <summary>Writes the refusal; the filter's result is then <see cref="Results.Empty"/> (see the class summary).</summary>
    private static async ValueTask<object?> RefuseAsync(HttpContext context, DispatcherError error, string message, TimeSpan? retryAfter = null)
    {
        await OpenAiErrorWriter.WriteAsync(context, error, message, retryAfter: retryAfter);
        return Results.Empty;
    }

    private static bool TryGetSecret(StringValues header, out ReadOnlySpan<char> secret)
    {
        secret = default;
        if (header.Count != 1 || header[0] is not { } value || !value.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        secret = value.AsSpan(Scheme.Length).Trim();
        return !secret.IsEmpty && secret.Length <= 512 && !secret.ContainsAny(' ', '\t');
    }

    private static partial class Log
    {
        [LoggerMessage(FrontendEventIds.TokenRejected, LogLevel.Information, "Request rejected: {Reason}")]
        public static partial void TokenRejected(ILogger logger, string reason);

        [LoggerMessage(FrontendEventIds.AuthThrottled, LogLevel.Warning, "Request from {Address} refused: too many failed authentications")]
        public static partial void Throttled(ILogger logger, string address);
    }
}
