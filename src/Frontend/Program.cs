using Dispatcher.Frontend;
using Dispatcher.Frontend.Demo;

var builder = WebApplication.CreateBuilder(args);

// With no model configured, start the embedded demo: emulated replicas and generated tokens.
await using var demo = await DemoFleet.StartIfUnconfiguredAsync(builder.Configuration);

builder.AddDispatcherFrontend(demo is null ? FrontendHostingExtensions.DefaultUrl : DemoFleet.DefaultUrl);

var app = builder.Build();
app.MapDispatcherFrontend();
demo?.PrintBannerWhenStarted(app);

await app.RunAsync();
