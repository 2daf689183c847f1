using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using Dispatcher.Frontend.Demo;
using Dispatcher.Testing;

namespace Dispatcher.Frontend.Tests.Demo;

public sealed class DemoFleetTests
{
    [Fact]
    public async Task StartIfUnconfigured_NoModels_ServesTheDemoModelWithGeneratedTokens()
    {
        var builder = WebApplication.CreateBuilder();
        builder.Configuration["urls"] = "http://127.0.0.1:0";
        builder.Configuration["Dispatcher:Cluster:SiloPort"] = FreePort.Next().ToString(CultureInfo.InvariantCulture);
        builder.Configuration["Dispatcher:Cluster:GatewayPort"] = FreePort.Next().ToString(CultureInfo.InvariantCulture);
        await using var demo = await DemoFleet.StartIfUnconfiguredAsync(builder.Configuration);
        Assert.NotNull(demo);
        var token = builder.Configuration["Dispatcher:Tokens:0:Token"];
        Assert.StartsWith("dsp-", token, StringComparison.Ordinal);
        Assert.Equal("10", builder.Configuration["Dispatcher:Tokens:0:Priority"]);
        Assert.Equal("1", builder.Configuration["Dispatcher:Tokens:1:Priority"]);
        Assert.NotNull(builder.Configuration["Dispatcher:Models:0:Backends:1"]);

        builder.AddDispatcherFrontend();
        await using var app = builder.Build();
        app.MapDispatcherFrontend();
        await app.StartAsync();
        using var http = new HttpClient { BaseAddress = new Uri(app.Urls.First()) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var response = await http.PostAsync("/v1/chat/completions", DispatcherHost.Json(DispatcherHost.Chat(model: DemoFleet.ModelName, maxTokens: 2)));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        await app.StopAsync();
    }

    [Fact]
    public async Task StartIfUnconfigured_ModelsConfigured_StartsNothing()
    {
        var builder = WebApplication.CreateBuilder();
        builder.Configuration["Dispatcher:Models:0:Name"] = "real";

        Assert.Null(await DemoFleet.StartIfUnconfiguredAsync(builder.Configuration));
    }
}
