using Dispatcher.Grains.Capacity;
using Dispatcher.Grains.Metrics;
using Dispatcher.Grains.Tests.Backends;

namespace Dispatcher.Grains.Tests.Capacity;

public sealed class ThroughputEstimatorTests
{
    private static readonly DateTimeOffset Start = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private readonly ThroughputEstimator _estimator = new(TimeSpan.FromSeconds(10));
    private int _second;

    private void ObserveSeconds(FakeReplica replica, int seconds)
    {
        for (var i = 0; i < seconds; i++)
        {
            replica.Run(1);
            var scrape = VllmScrape.From(PrometheusTextParser.Parse(replica.Metrics()));
            _estimator.Observe(Start.AddSeconds(++_second), scrape!);
        }
    }

    private static double Rate(FakeReplica replica) => 1 / (replica.StepBase + (replica.StepPerRunning * replica.Running));

    [Fact]
    public void SteadyLoad_EstimatesThePerUserRateFromTheLatencyHistogram()
    {
        var replica = new FakeReplica { Running = 10 };

        ObserveSeconds(replica, 15);

        Assert.Equal(Rate(replica), _estimator.PerUserRate!.Value, Rate(replica) * 0.01);
        Assert.Equal(10, _estimator.ObservedRunning, 0.01);
    }

    [Fact]
    public void NoLatencyHistogram_FallsBackToCounterRateOverMeanRunning()
    {
        var replica = new FakeReplica { Running = 8, WithoutInterTokenLatency = true };

        ObserveSeconds(replica, 12);

        Assert.Equal(Rate(replica), _estimator.PerUserRate!.Value, Rate(replica) * 0.05);
    }

    [Fact]
    public void Restart_CountersGoDown_WindowStartsOverWithoutANegativeRate()
    {
        var replica = new FakeReplica { Running = 4 };
        ObserveSeconds(replica, 5);

        replica.Restart();
        replica.Running = 12;
        ObserveSeconds(replica, 1);
        Assert.Equal(1, _estimator.Restarts);
        Assert.True(_estimator.PerUserRate > 0);
        ObserveSeconds(replica, 12);

        Assert.Equal(Rate(replica), _estimator.PerUserRate!.Value, Rate(replica) * 0.01);
    }

    [Fact]
    public void Idle_NoTokens_KeepsTheLastEstimate()
    {
        var replica = new FakeReplica { Running = 6 };
        ObserveSeconds(replica, 12);
        var busy = _estimator.PerUserRate;

        replica.Running = 0;
        ObserveSeconds(replica, 30);

        Assert.Equal(busy, _estimator.PerUserRate);
    }

    [Fact]
    public void SeveralEngines_SumsOverTheEngineLabel()
    {
        var replica = new FakeReplica { Running = 10, Engines = 2 };

        ObserveSeconds(replica, 12);

        Assert.Equal(Rate(replica), _estimator.PerUserRate!.Value, Rate(replica) * 0.01);
        Assert.Equal(10, _estimator.ObservedRunning, 0.01);
    }
}
