using System.Text;
using System.Text.Json;
using Dispatcher.Frontend.Requests;

namespace Dispatcher.Frontend.Tests.Requests;

public sealed class PriorityRewriterTests
{
    private static string Rewrite(string json, int? value)
    {
        var (body, problem) = BodyInspector.Inspect(Encoding.UTF8.GetBytes(json));
        Assert.Null(problem);
        var result = Encoding.UTF8.GetString(PriorityRewriter.Rewrite(body!, value).Span);
        using var _ = JsonDocument.Parse(result); // always valid JSON
        return result;
    }

    [Theory]
    [InlineData("{\"model\":\"m\",\"priority\":5}", "{\"model\":\"m\"}")]
    [InlineData("{\"priority\":5,\"model\":\"m\"}", "{\"model\":\"m\"}")]
    [InlineData("{\"model\":\"m\", \"priority\" : 5 , \"stream\":true}", "{\"model\":\"m\",  \"stream\":true}")]
    [InlineData("{ \"model\":\"m\" ,\n \"priority\":5\n}", "{ \"model\":\"m\" \n}")]
    [InlineData("{\"model\":\"m\"}", "{\"model\":\"m\"}")]
    public void Rewrite_NotForwarded_RemovesOnlyThePriorityProperty(string json, string expected)
    {
        Assert.Equal(expected, Rewrite(json, null));
    }

    [Theory]
    [InlineData("{\"model\":\"m\",\"priority\":5,\"x\":[1]}", "{\"model\":\"m\",\"priority\":995,\"x\":[1]}")]
    [InlineData("{\"model\":\"m\"}", "{\"priority\":995,\"model\":\"m\"}")]
    public void Rewrite_Forwarded_SetsTheMappedValue(string json, string expected)
    {
        Assert.Equal(expected, Rewrite(json, 995));
    }
}
