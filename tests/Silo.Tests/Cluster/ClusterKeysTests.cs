using Dispatcher.Silo.Cluster;

namespace Dispatcher.Silo.Tests.Cluster;

/// <summary>The numbers every silo computes alike: lock keys and rendezvous placement.</summary>
public sealed class ClusterKeysTests
{
    private static readonly string[] Silos = ["silo-a", "silo-b", "silo-c"];

    [Fact]
    public void Locks_AreStableAcrossVersionsAndDistinctBetweenModelsAndSilos()
    {
        // Pinned: silos of different versions must agree on these during a rolling upgrade.
        Assert.Equal(3758360927158877544, ClusterKeys.ModelLock("alpha"));
        Assert.Equal(9163197223917909609, ClusterKeys.SiloLock("silo-1"));
        Assert.NotEqual(ClusterKeys.ModelLock("x"), ClusterKeys.SiloLock("x"));
    }

    [Fact]
    public void Preferred_IsTheSameWhateverTheOrderOfTheSilos()
    {
        for (var i = 0; i < 50; i++)
        {
            var model = $"model-{i}";
            Assert.Equal(ClusterKeys.Preferred(model, Silos), ClusterKeys.Preferred(model, Silos.Reverse()));
        }

        Assert.Null(ClusterKeys.Preferred("model", []));
    }

    [Fact]
    public void Preferred_SpreadsModelsAcrossSilos()
    {
        var counts = Enumerable.Range(0, 600).GroupBy(i => ClusterKeys.Preferred($"model-{i}", Silos)).ToDictionary(g => g.Key!, g => g.Count());

        Assert.Equal(3, counts.Count);
        Assert.All(counts.Values, c => Assert.InRange(c, 150, 250)); // 200 each, give or take
    }

    [Fact]
    public void Preferred_SiloRemoved_OnlyItsModelsMove()
    {
        var models = Enumerable.Range(0, 300).Select(i => $"model-{i}").ToList();
        var before = models.ToDictionary(m => m, m => ClusterKeys.Preferred(m, Silos));
        var after = models.ToDictionary(m => m, m => ClusterKeys.Preferred(m, Silos.Where(s => s != "silo-b")));

        Assert.All(models.Where(m => before[m] != "silo-b"), m => Assert.Equal(before[m], after[m]));
        Assert.All(models, m => Assert.NotEqual("silo-b", after[m]));
    }
}
