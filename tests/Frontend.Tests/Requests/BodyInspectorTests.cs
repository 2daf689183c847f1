using System.Text;
using Dispatcher.Frontend.Errors;
using Dispatcher.Frontend.Requests;

namespace Dispatcher.Frontend.Tests.Requests;

public sealed class BodyInspectorTests
{
    private static (InspectedBody? Body, BodyProblem? Problem) Inspect(string json) => BodyInspector.Inspect(Encoding.UTF8.GetBytes(json));

    [Fact]
    public void Inspect_TypicalChat_ReadsTopLevelFieldsOnly()
    {
        var (body, problem) = Inspect("""
            {"messages":[{"role":"user","content":"{\"model\":\"nested\"}"}],"metadata":{"model":"inner","stream":false},
             "model":"llama","stream":true,"priority":3}
            """);

        Assert.Null(problem);
        Assert.Equal("llama", body!.Model);
        Assert.True(body.Stream);
        Assert.Equal(3, body.Priority);
    }

    [Fact]
    public void Inspect_NoStreamNoPriority_Defaults()
    {
        var (body, _) = Inspect("{\"model\":\"m\",\"stream\":null}");

        Assert.False(body!.Stream);
        Assert.Null(body.Priority);
    }

    [Theory]
    [InlineData("", "InvalidJson", null)]
    [InlineData("\"text\"", "InvalidJson", null)]
    [InlineData("{\"model\":\"m\",}", "InvalidJson", null)]
    [InlineData("{\"model\":\"m\"}{}", "InvalidJson", null)]
    [InlineData("{\"model\":\"\"}", "InvalidField", "model")]
    [InlineData("{\"model\":null}", "InvalidField", "model")]
    [InlineData("{\"model\":\"m\",\"priority\":1.5}", "InvalidField", "priority")]
    [InlineData("{\"model\":\"m\",\"priority\":99999999999}", "InvalidField", "priority")]
    [InlineData("{\"model\":\"m\",\"stream\":1}", "InvalidField", "stream")]
    [InlineData("{\"model\":\"m\",\"stream\":true,\"stream\":false}", "InvalidField", "stream")]
    public void Inspect_BadBody_NamesTheProblem(string json, string error, string? param)
    {
        var (body, problem) = Inspect(json);

        Assert.Null(body);
        Assert.Equal(Enum.Parse<DispatcherError>(error), problem!.Error);
        Assert.Equal(param, problem.Param);
    }

    [Fact]
    public void Inspect_TooDeepOrTooLongModel_IsRefused()
    {
        var deep = "{\"model\":\"m\",\"x\":" + new string('[', 100) + new string(']', 100) + "}";
        Assert.Equal(DispatcherError.InvalidJson, Inspect(deep).Problem!.Error);
        Assert.Equal("model", Inspect($"{{\"model\":\"{new string('m', 300)}\"}}").Problem!.Param);
    }
}
