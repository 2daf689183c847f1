using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Dispatcher.Grains.Abstractions;
using Dispatcher.Grains.Abstractions.Leases;
using Dispatcher.Grains.Abstractions.Models;
using Dispatcher.Grains.Abstractions.Tokens;
using Dispatcher.Silo.Activation;
using Dispatcher.Silo.Cluster;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Dispatcher.Silo.Remote;

/// <summary>
/// The silo's internal endpoint for frontends (<see cref="SiloProtocol"/>). A lease is one streaming call that
/// answers <c>queued</c>, then <c>granted</c> or <c>refused</c>, and stays open while the lease is held. It ends when
/// the frontend posts the release (with usage) or when the call breaks: a dropped connection releases the lease,
/// so a crashed frontend leaks nothing. When the model moves to another silo every open call answers <c>moved</c>
/// and ends; a call for a model this silo does not host is answered 421 with <c>moved</c> at once.
/// </summary>
public static class SiloApi
{
    private static readonly byte[] NewLine = "\n"u8.ToArray();

    public static IEndpointRouteBuilder MapSiloApi(this IEndpointRouteBuilder routes)
    {
        var endpoints = routes.MapGroup("");
        if (routes.ServiceProvider.GetRequiredService<IOptions<ClusterOptions>>().Value.InternalKey is { Length: > 0 } key)
        {
            var expected = SHA256.HashData(Encoding.UTF8.GetBytes(key));
            endpoints.AddEndpointFilter(async (context, next) => HasKey(context.HttpContext, expected)
                ? await next(context)
                : Results.Json(new { error = "The silo's internal endpoint needs its key (Dispatcher:Silo:InternalKey on frontends)." }, statusCode: StatusCodes.Status401Unauthorized));
        }

        endpoints.MapGet(SiloProtocol.ClusterPath, async (IModelPlacement placement, CancellationToken ct) =>
            Results.Json(await placement.GetViewAsync(ct), SiloProtocol.Json));
        endpoints.MapGet("/internal/tokens/{tokenId}", async (string tokenId, IGrainFactory grains, CancellationToken ct) =>
            TokenHash.IsTokenId(tokenId) ? Results.Json(await grains.GetGrain<ITokenGrain>(tokenId).GetPolicyAsync(ct), SiloProtocol.Json) : Results.BadRequest());
        endpoints.MapGet("/internal/tokens/{tokenId}/counters", async (string tokenId, IGrainFactory grains, CancellationToken ct) =>
            TokenHash.IsTokenId(tokenId) ? Results.Json(await grains.GetGrain<ITokenGrain>(tokenId).GetCountersAsync(ct), SiloProtocol.Json) : Results.BadRequest());
        endpoints.MapGet(SiloProtocol.SnapshotPath, async (string model, IGrainFactory grains, IModelPlacement placement, CancellationToken ct) =>
        {
            try
            {
                return placement.IsLocal(model)
                    ? Results.Json(await grains.GetGrain<IModelGrain>(model).GetSnapshotAsync(ct), SiloProtocol.Json)
                    : MovedResult();
            }
            catch (GrainNotLocalException)
            {
                return MovedResult();
            }
        });
        endpoints.MapPost(SiloProtocol.LeasesPath, LeaseAsync);
        endpoints.MapPost(SiloProtocol.AdoptPath, AdoptAsync);
        endpoints.MapPost(SiloProtocol.ReleasePath, ReleaseAsync);
        return routes;
    }

    /// <summary>Compares hashes in constant time: the key itself is never compared or logged.</summary>
    private static bool HasKey(HttpContext context, byte[] expected)
    {
        const string scheme = "Bearer ";
        var header = context.Request.Headers.Authorization.ToString();
        return header.StartsWith(scheme, StringComparison.OrdinalIgnoreCase)
            && CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(header[scheme.Length..].Trim())), expected);
    }

    private static async Task LeaseAsync(HttpContext context, IGrainFactory grains, IModelPlacement placement, LeaseCalls calls)
    {
        if (await ReadAsync<LeaseCall>(context) is not { Model: not null, Request: not null } call)
        {
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            return;
        }

        await ServeLocalAsync(context, call.Model, grains, placement, calls, async (grain, open, stop) =>
        {
            // The position is read just after the request reached the grain's mailbox: grain turns interleave
            // while the request is admitted (its token grain is asked first), so it is approximate, and at least 1.
            var acquire = grain.AcquireAsync(call.Request, stop.Token);
            var position = await grain.GetWaitingCountAsync(CancellationToken.None);
            await TryWriteAsync(context, new LeaseEvent(LeaseEvent.Queued, Position: Math.Max(1, position)));

            LeaseGrant grant;
            try
            {
                grant = await acquire;
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                // The grain took the request out of its wait list. When moving, the frontend submits it again to the new owner.
                if (open.Moving.IsCancellationRequested)
                {
                    await TryWriteAsync(context, new LeaseEvent(LeaseEvent.Moved));
                }

                return;
            }

            if (grant.Outcome != LeaseOutcome.Granted)
            {
                await TryWriteAsync(context, new LeaseEvent(LeaseEvent.Refused, WaitedMs: grant.Waited.TotalMilliseconds, Outcome: grant.Outcome, RetryAfterMs: grant.RetryAfter?.TotalMilliseconds));
                return;
            }

            open.Holds(grant.LeaseId!);
            await TryWriteAsync(context, new LeaseEvent(LeaseEvent.Granted, LeaseId: grant.LeaseId, Backend: grant.Backend, WaitedMs: grant.Waited.TotalMilliseconds));
            await HoldAsync(context, grain, open, grant.LeaseId!, stop.Token);
        });
    }

    private static async Task AdoptAsync(HttpContext context, IGrainFactory grains, IModelPlacement placement, LeaseCalls calls)
    {
        if (await ReadAsync<AdoptCall>(context) is not { Model: not null, Adoption: { LeaseId: not null, TokenId: not null, Backend: not null } } call)
        {
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            return;
        }

        await ServeLocalAsync(context, call.Model, grains, placement, calls, async (grain, open, stop) =>
        {
            if (!await grain.AdoptAsync(call.Adoption, CancellationToken.None))
            {
                await TryWriteAsync(context, new LeaseEvent(LeaseEvent.Refused, Outcome: LeaseOutcome.NoHealthyBackend));
                return;
            }

            open.Holds(call.Adoption.LeaseId);
            await TryWriteAsync(context, new LeaseEvent(LeaseEvent.Adopted, LeaseId: call.Adoption.LeaseId, Backend: call.Adoption.Backend));
            await HoldAsync(context, grain, open, call.Adoption.LeaseId, stop.Token);
        });
    }

    /// <summary>
    /// Runs one lease call against the model's local grain: answers <c>moved</c> when the model is not (or no
    /// longer) hosted here, and ends the call's token when the frontend goes away or the model starts moving.
    /// </summary>
    private static async Task ServeLocalAsync(
        HttpContext context,
        string model,
        IGrainFactory grains,
        IModelPlacement placement,
        LeaseCalls calls,
        Func<IModelGrain, LeaseCalls.OpenCall, CancellationTokenSource, Task> serve)
    {
        if (!placement.IsLocal(model))
        {
            await MovedResult().ExecuteAsync(context);
            return;
        }

        using var open = calls.Open(model);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, open.Moving.Token);
        context.Response.ContentType = SiloProtocol.LeaseEventsContentType;
        try
        {
            await serve(grains.GetGrain<IModelGrain>(model), open, stop);
        }
        catch (GrainNotLocalException)
        {
            // The model left this silo between the check and the call.
            await TryMovedAsync(context);
        }
    }

    private static async Task<IResult> ReleaseAsync(HttpContext context, IGrainFactory grains, LeaseCalls calls)
    {
        if (await ReadAsync<ReleaseCall>(context) is not { Model: not null, Release.LeaseId: not null } call)
        {
            return Results.BadRequest();
        }

        try
        {
            // Also while the model is moving away: its grain stays until every call of it has ended.
            await grains.GetGrain<IModelGrain>(call.Model).ReleaseAsync(call.Release, CancellationToken.None);
        }
        catch (GrainNotLocalException)
        {
            // Not hosted here (any more): the lease went with its grain.
        }

        calls.Release(call.Release.LeaseId);
        return Results.NoContent();
    }

    /// <summary>
    /// Holds a granted lease until its explicit release ends the call. If the call ends otherwise, the lease is
    /// released here: the frontend went away (its request with it), or the model moved (the frontend adopts it anew).
    /// </summary>
    private static async Task HoldAsync(HttpContext context, IModelGrain grain, LeaseCalls.OpenCall open, string leaseId, CancellationToken stop)
    {
        try
        {
            await open.Released.Task.WaitAsync(stop);
            return; // the release reached the grain before it ended the call
        }
        catch (OperationCanceledException)
        {
        }

        var moving = open.Moving.IsCancellationRequested;
        if (moving)
        {
            await TryWriteAsync(context, new LeaseEvent(LeaseEvent.Moved, LeaseId: leaseId));
        }

        await grain.ReleaseAsync(new LeaseRelease(leaseId, moving ? LeaseEndReason.Moved : LeaseEndReason.ClientAborted, null, null), CancellationToken.None);
    }

    private static IResult MovedResult() =>
        Results.Json(new LeaseEvent(LeaseEvent.Moved), SiloProtocol.Json, statusCode: StatusCodes.Status421MisdirectedRequest);

    private static async Task TryMovedAsync(HttpContext context)
    {
        if (!context.Response.HasStarted)
        {
            await MovedResult().ExecuteAsync(context);
            return;
        }

        await TryWriteAsync(context, new LeaseEvent(LeaseEvent.Moved));
    }

    private static async Task<T?> ReadAsync<T>(HttpContext context) where T : class
    {
        try
        {
            return await context.Request.ReadFromJsonAsync<T>(SiloProtocol.Json, context.RequestAborted);
        }
        catch (Exception exception) when (exception is JsonException or InvalidOperationException or IOException or OperationCanceledException)
        {
            return null;
        }
    }

    /// <summary>Writes one line and flushes it; false when the frontend is gone (its call's token says the rest).</summary>
    private static async Task<bool> TryWriteAsync(HttpContext context, LeaseEvent message)
    {
        try
        {
            await JsonSerializer.SerializeAsync(context.Response.Body, message, SiloProtocol.Json, context.RequestAborted);
            await context.Response.Body.WriteAsync(NewLine, context.RequestAborted);
            await context.Response.Body.FlushAsync(context.RequestAborted);
            return true;
        }
        catch (Exception exception) when (exception is IOException or OperationCanceledException or ObjectDisposedException)
        {
            return false;
        }
    }
}
