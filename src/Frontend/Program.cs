using Dispatcher.Frontend;
#if DISPATCHER_DEMO
using Dispatcher.Frontend.Demo;
#endif

var builder = WebApplication.CreateBuilder(args);

#if DISPATCHER_DEMO
// With no model configured, start the embedded demo: emulated replicas and generated tokens.
await using var demo = await DemoFleet.StartIfUnconfiguredAsync(builder.Configuration);
builder.AddDispatcherFrontend(demo is null ? FrontendHostingExtensions.DefaultUrl : DemoFleet.DefaultUrl);
#else
// The production build (-p:IncludeDemo=false): no emulator inside, models come from configuration only.
builder.AddDispatcherFrontend(FrontendHostingExtensions.DefaultUrl);
#endif

var app = builder.Build();
app.MapDispatcherFrontend();
#if DISPATCHER_DEMO
demo?.PrintBannerWhenStarted(app);
#endif

await app.RunAsync();
