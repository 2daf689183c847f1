using Dispatcher.Grains.Abstractions;
using Dispatcher.Grains.Abstractions.Models;
using Dispatcher.Grains.Abstractions.Tokens;

namespace Dispatcher.Grains.Tests.Abstractions;

/// <summary>References made from a grain id resolved once are the ones Orleans makes, and reach the same activations.</summary>
public sealed class GrainReferencesTests
{
    [Fact]
    public async Task GetGrainByKey_EachInterface_EqualToGetGrainAndCallable()
    {
        await using var host = await GrainTestHost.StartAsync();

        var model = host.Grains.GetGrainByKey<IModelGrain>(GrainTestHost.Model);
        var token = host.Grains.GetGrainByKey<ITokenGrain>(GrainTestHost.TokenId("high"));

        Assert.Equal(host.Grains.GetGrain<IModelGrain>(GrainTestHost.Model), model);
        Assert.Equal(host.Grains.GetGrain<ITokenGrain>(GrainTestHost.TokenId("high")), token);
        Assert.NotEqual(model, host.Grains.GetGrainByKey<IModelGrain>(GrainTestHost.OtherModel));
        Assert.Equal(GrainTestHost.Model, (await model.GetSnapshotAsync(CancellationToken.None)).Model);
        Assert.Equal("high", (await token.GetPolicyAsync(CancellationToken.None)).Policy?.Name);
    }
}
