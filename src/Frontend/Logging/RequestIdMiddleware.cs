using System.Collections;
using Microsoft.AspNetCore.Http.Features;

namespace Dispatcher.Frontend.Logging;

/// <summary>
/// Gives every request an id (a UUIDv7 in hex), returns it as <c>X-Request-Id</c>, sends it to vLLM (whose
/// response ids then carry it) and puts it in a logging scope, so every line logged while serving the request
/// carries <c>RequestId</c>. A client's own <c>X-Request-Id</c> is not trusted (vLLM may reject duplicates).
/// One small object per request is both the scope and the request feature that holds the id.
/// </summary>
internal sealed class RequestIdMiddleware(RequestDelegate next, ILogger<RequestIdMiddleware> logger)
{
    public static string Of(HttpContext context) => context.Features.GetRequiredFeature<RequestIdScope>().RequestId;

    public async Task InvokeAsync(HttpContext context)
    {
        var scope = new RequestIdScope(Guid.CreateVersion7().ToString("N"));
        context.Features.Set(scope);
        context.Response.Headers["X-Request-Id"] = scope.RequestId;
        using (logger.BeginScope(scope))
        {
            await next(context);
        }
    }

    /// <summary>The logging scope <c>RequestId</c>: read by the JSON console as one key and value.</summary>
    private sealed class RequestIdScope(string requestId) : IReadOnlyList<KeyValuePair<string, object?>>
    {
        public string RequestId { get; } = requestId;

        public int Count => 1;

        public KeyValuePair<string, object?> this[int index] =>
            index == 0 ? new("RequestId", RequestId) : throw new ArgumentOutOfRangeException(nameof(index));

        public IEnumerator<KeyValuePair<string, object?>> GetEnumerator()
        {
            yield return this[0];
        }

        IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

        public override string ToString() => $"RequestId:{RequestId}";
    }
}
