using System.Text;
using Dispatcher.Frontend.Forwarding;

namespace Dispatcher.Frontend.Tests.Forwarding;

public sealed class UsageMeterTests
{
    private static (UsageMeter Meter, MemoryStream Inner) Write(string text, int pieceSize)
    {
        var inner = new MemoryStream();
        var meter = new UsageMeter(inner, TimeProvider.System);
        var bytes = Encoding.UTF8.GetBytes(text);
        for (var i = 0; i < bytes.Length; i += pieceSize)
        {
            meter.Write(bytes.AsSpan(i, Math.Min(pieceSize, bytes.Length - i)));
        }

        return (meter, inner);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(4096)]
    public void JsonBody_InAnyPieces_ReadsUsageAndPassesBytesThrough(int pieceSize)
    {
        const string body = "{\"id\":\"x\",\"choices\":[{\"message\":{\"content\":\"say \\\"completion_tokens\\\":9\"}}],"
            + "\"usage\":{\"prompt_tokens\":14,\"total_tokens\":68,\"completion_tokens\":54,\"prompt_tokens_details\":null}}";

        var (meter, inner) = Write(body, pieceSize);

        Assert.Equal(new(14, 54), meter.Usage);
        Assert.Equal(body, Encoding.UTF8.GetString(inner.ToArray()));
    }

    [Fact]
    public void Stream_WithUsageChunk_TakesTheReportedUsage()
    {
        const string sse = "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\ndata: {\"choices\":[{\"delta\":{\"content\":\"b\"}}]}\n\n"
            + "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3, \"total_tokens\":5,\"completion_tokens\": 2}}\n\ndata: [DONE]\n\n";

        Assert.Equal(new(3, 2), Write(sse, 5).Meter.Usage);
    }

    [Fact]
    public void Stream_WithoutUsage_CountsItsEvents()
    {
        var sse = string.Concat(Enumerable.Repeat("data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\n", 12)) + "data: [DONE]\n\n";

        Assert.Equal(new(0, 12), Write(sse, 3).Meter.Usage);
    }

    [Fact]
    public void NothingRecognizable_HasNoUsage()
    {
        Assert.Null(Write("{\"error\":{\"message\":\"no\"}}", 10).Meter.Usage);
    }

    [Fact]
    public void Stream_CutAtEveryPlace_SameUsageAndEventsAsWhole()
    {
        // Every split of keys, event starts and numbers across writes, for writes of every size up to twice the longest key.
        var sse = string.Concat(Enumerable.Range(0, 5).Select(i => $"data: {{\"choices\":[{{\"delta\":{{\"content\":\"t{i}\"}}}}]}}\n\n"))
            + "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":1234,\"total_tokens\":99999,\"completion_tokens\":98765}}\n\ndata: [DONE]\n\n";
        var noUsage = sse[..sse.IndexOf("data: {\"choices\":[],", StringComparison.Ordinal)];

        for (var pieceSize = 1; pieceSize <= 40; pieceSize++)
        {
            Assert.Equal(new(1234, 98765), Write(sse, pieceSize).Meter.Usage);
            Assert.Equal(new(0, 5), Write(noUsage, pieceSize).Meter.Usage);
        }
    }
}
