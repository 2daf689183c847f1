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
        var v1 = endpoints.MapGroup("/v1").AddEndpointFilter<BearerTokenFilter>();
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
        v1.MapPost("/{**path}", DispatchAsync);
        v1.MapMethods("/{**path}", [HttpMethods.Get, HttpMethods.Put, HttpMethods.Patch, HttpMethods.Delete], UnknownRouteAsync);
        return v1;
    }

    private static async Task DispatchAsync(HttpContext context, ModelCatalog catalog, LeaseForwarder forwarder, IOptions<ForwardingOptions> options, TimeProvider time)
    {
        var arrived = time.GetTimestamp();
        var (content, readProblem) = await BodyReader.ReadAsync(context.Request, options.Value.MaxRequestBodySize);
        var (body, problem) = readProblem is null ? BodyInspector.Inspect(content) : (null, readProblem);
        if (problem is not null)
        {
            await OpenAiErrorWriter.WriteAsync(context, problem.Error, problem.Message, problem.Param);
            return;
        }

        if (!catalog.Contains(body!.Model))
        {
            await OpenAiErrorWriter.WriteAsync(context, DispatcherError.UnknownModel, $"The model '{body.Model}' does not exist.", "model");
            return;
        }

        await forwarder.ForwardAsync(context, context.Features.Get<AuthenticatedToken>()!, body, arrived);
    }

    private static Task UnknownRouteAsync(HttpContext context) =>
        OpenAiErrorWriter.WriteAsync(context, DispatcherError.UnknownRoute,
            $"Unknown request URL: {context.Request.Method} {context.Request.Path}.");
}
