using Dispatcher.Frontend.Auth;
using Dispatcher.Frontend.Errors;
using Dispatcher.Frontend.Forwarding;
using Dispatcher.Frontend.Models;
using Dispatcher.Frontend.Requests;
using Microsoft.Extensions.Options;

namespace Dispatcher.Frontend.Api;

/// <summary>
/// The OpenAI-compatible surface. Every <c>/v1</c> route needs a bearer token. Any POST under <c>/v1</c>
/// with a JSON body is dispatched by its <c>model</c> and forwarded unchanged; <c>GET /v1/models</c> is
/// answered here.
/// </summary>
internal static class OpenAiApi
{
    public static RouteGroupBuilder MapOpenAiApi(this IEndpointRouteBuilder endpoints)
    {
        // One filter for every request (AddEndpointFilter<T> would make one per request).
        var v1 = endpoints.MapGroup("/v1").AddEndpointFilterFactory((factory, next) =>
        {
            var filter = factory.ApplicationServices.GetRequiredService<BearerTokenFilter>();
            return invocation => filter.InvokeAsync(invocation, next);
        });
        v1.MapGet("/models", (ModelCatalog catalog) => Results.Bytes(catalog.ListJson(), "application/json"));
        v1.MapGet("/models/{**model}", async (string model, ModelCatalog catalog, HttpContext context) =>
        {
            if (catalog.Contains(model))
            {
                return Results.Bytes(catalog.CardJson(model), "application/json");
            }

            await OpenAiErrorWriter.WriteAsync(context, DispatcherError.UnknownModel, $"The model '{model}' does not exist.", "model");
            return Results.Empty;
        });
        v1.MapMethods("/models/{**model}", [HttpMethods.Post, HttpMethods.Put, HttpMethods.Patch, HttpMethods.Delete], context => NotAllowedAsync(context, "GET"));
        v1.MapMethods("/models", [HttpMethods.Post, HttpMethods.Put, HttpMethods.Patch, HttpMethods.Delete], context => NotAllowedAsync(context, "GET"));
        v1.MapPost("/{**path}", DispatchAsync);
        // Every other /v1 route is served by POST only (OpenAI and vLLM inference routes).
        v1.MapMethods("/{**path}", [HttpMethods.Get, HttpMethods.Head, HttpMethods.Put, HttpMethods.Patch, HttpMethods.Delete, HttpMethods.Options],
            context => NotAllowedAsync(context, "POST"));
        return v1;
    }

    private static async Task DispatchAsync(HttpContext context, ModelCatalog catalog, LeaseForwarder forwarder, IOptions<ForwardingOptions> options, TimeProvider time)
    {
        var arrived = time.GetTimestamp();
        if (!ForwardablePath.IsForwardable(context))
        {
            await OpenAiErrorWriter.WriteAsync(context, DispatcherError.UnknownRoute, "Unknown request URL: only plain /v1/... paths are served.");
            return;
        }

        var maxSize = options.Value.MaxRequestBodySize;
        var (content, readProblem) = await BodyReader.ReadAsync(context.Request, maxSize);
        var (body, problem) = readProblem is null ? BodyInspector.Inspect(content) : (null, readProblem);
        if (problem is not null)
        {
            var linger = problem.Error == DispatcherError.BodyTooLarge && LingeringClose.Applies(context.Request, maxSize);
            if (linger)
            {
                LingeringClose.CloseAfterResponse(context.Response);
            }

            await OpenAiErrorWriter.WriteAsync(context, problem.Error, problem.Message, problem.Param);
            if (linger)
            {
                await LingeringClose.DrainAsync(context, time); // so that the client, still sending, reads the 413
            }

            return;
        }

        if (!catalog.Contains(body!.Model))
        {
            await OpenAiErrorWriter.WriteAsync(context, DispatcherError.UnknownModel, $"The model '{body.Model}' does not exist.", "model");
            return;
        }

        await forwarder.ForwardAsync(context, context.Features.Get<AuthenticatedToken>()!, body, arrived);
    }

    private static Task NotAllowedAsync(HttpContext context, string allowed) =>
        OpenAiErrorWriter.WriteAsync(context, DispatcherError.MethodNotAllowed,
            $"{context.Request.Method} is not allowed on {context.Request.Path}; use {allowed}.", allow: allowed);
}
