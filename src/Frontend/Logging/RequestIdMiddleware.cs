namespace Dispatcher.Frontend.Logging;

/// <summary>
/// Gives every request an id (a UUIDv7 in hex), returns it as <c>X-Request-Id</c>, sends it to vLLM (whose
/// response ids then carry it) and puts it in a logging scope, so every line logged while serving the request
/// carries <c>RequestId</c>. A client's own <c>X-Request-Id</c> is not trusted (vLLM may reject duplicates).
/// </summary>
internal sealed class RequestIdMiddleware(RequestDelegate next, ILogger<RequestIdMiddleware> logger)
{
    private const string ItemKey = "Dispatcher.RequestId";

    public static string Of(HttpContext context) => (string)context.Items[ItemKey]!;

    public async Task InvokeAsync(HttpContext context)
    {
        var id = Guid.CreateVersion7().ToString("N");
        context.Items[ItemKey] = id;
        context.Response.Headers["X-Request-Id"] = id;
        using (logger.BeginScope(new Dictionary<string, object> { ["RequestId"] = id }))
        {
            await next(context);
        }
    }
}
