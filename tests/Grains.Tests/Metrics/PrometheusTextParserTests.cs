using Dispatcher.Grains.Metrics;

namespace Dispatcher.Grains.Tests.Metrics;

public sealed class PrometheusTextParserTests
{
    private static string Fixture(string name) => File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", name));

    [Fact]
    public void Parse_V1Capture_ReadsGaugesCountersAndCreatedSeries()
    {
        var parsed = PrometheusTextParser.Parse(Fixture("vllm-metrics-v1.txt"));

        Assert.Empty(parsed.Errors);
        Assert.Equal(0.0, parsed.Sum("vllm:num_requests_running"));
        Assert.Equal(0.0, parsed.Sum("vllm:kv_cache_usage_perc"));
        Assert.Equal(0.0, parsed.Sum("vllm:generation_tokens_total"));
        Assert.Equal(1.7769301736865187e+09, parsed.Max("vllm:generation_tokens_created"));
        Assert.Equal("counter", parsed.Types["vllm:generation_tokens_total"]);
        var running = parsed.Samples.First(s => s.Name == "vllm:num_requests_running");
        Assert.Equal("0", running.Label("engine"));
        Assert.Equal("llama-vllm-single", running.Label("model_name"));
    }

    [Fact]
    public void Parse_V0CaptureWithoutFirstHelpAndCutHistogram_ReadsWhatIsThere()
    {
        var parsed = PrometheusTextParser.Parse(Fixture("vllm-metrics-v0.txt"));

        Assert.Empty(parsed.Errors);
        Assert.Equal(0.0, parsed.Sum("vllm:num_requests_running"));
        Assert.NotNull(parsed.Sum("vllm:gpu_cache_usage_perc"));
        Assert.Equal(955.0, parsed.Sum("vllm:generation_tokens_total"));
        Assert.Equal(148.0, parsed.Sum("vllm:prompt_tokens_total"));
        Assert.Equal("gauge", parsed.Types["vllm:cache_config_info"]);
        Assert.Equal("81767", parsed.Samples.First(s => s.Name == "vllm:cache_config_info").Label("num_gpu_blocks"));
        Assert.Contains(parsed.Samples, s => s.Name == "vllm:iteration_tokens_total_bucket" && s.Label("le") == "96.0");
    }

    [Fact]
    public void Parse_EscapesCommasGoFloatsAndSpecials_ReadsThemExactly()
    {
        const string text = """
            # HELP x_info Something.
            x_info{adapters="a,b",path="C:\\dir",quote="say \"hi\"",multi="one\ntwo"} 1.7769301736864316e+09
            x_total{engine="0"} 5.453083e+06 1712345678000
            x_total{engine="1"} +Inf
            x_gauge NaN
            x_neg -Inf
            x_plain 3
            """;

        var parsed = PrometheusTextParser.Parse(text);

        Assert.Empty(parsed.Errors);
        var info = parsed.Samples[0];
        Assert.Equal("a,b", info.Label("adapters"));
        Assert.Equal(@"C:\dir", info.Label("path"));
        Assert.Equal("say \"hi\"", info.Label("quote"));
        Assert.Equal("one\ntwo", info.Label("multi"));
        Assert.Equal(1.7769301736864316e+09, info.Value);
        Assert.Equal(5_453_083, parsed.Samples[1].Value);
        Assert.Equal(double.PositiveInfinity, parsed.Samples[2].Value);
        Assert.True(double.IsNaN(parsed.Samples[3].Value));
        Assert.Equal(double.NegativeInfinity, parsed.Samples[4].Value);
        Assert.Equal(double.PositiveInfinity, parsed.Sum("x_total"));
        Assert.Null(parsed.Sum("x_gauge"));
    }

    [Fact]
    public void Parse_OpenMetrics_StopsAtEofAndDropsExemplars()
    {
        const string text = "# TYPE vllm:generation_tokens counter\n"
            + "vllm:generation_tokens_total{engine=\"0\"} 42.0 # {trace_id=\"abc\"} 1.0 1712345678.1\n"
            + "vllm:generation_tokens_created{engine=\"0\"} 1.7e+09\n"
            + "# EOF\n"
            + "garbage after eof\n";

        var parsed = PrometheusTextParser.Parse(text);

        Assert.Empty(parsed.Errors);
        Assert.Equal(42.0, parsed.Sum("vllm:generation_tokens_total"));
        Assert.Equal("counter", parsed.Types["vllm:generation_tokens"]);
    }

    [Theory]
    [InlineData("vllm:num_requests_running{engine=\"0\"")]
    [InlineData("vllm:num_requests_running{engine=\"0}")]
    [InlineData("vllm:num_requests_running{engine=0} 1")]
    [InlineData("vllm:num_requests_running")]
    [InlineData("vllm:num_requests_running one")]
    [InlineData("vllm:num_requests_running 1 yesterday")]
    [InlineData("{} 1")]
    [InlineData("# TYPE")]
    [InlineData("\u0000\u0001\u0002 garbage")]
    public void Parse_BrokenLine_SkipsItKeepsTheRest(string broken)
    {
        var parsed = PrometheusTextParser.Parse($"ok_before 1\n{broken}\nok_after 2\n");

        Assert.Single(parsed.Errors);
        Assert.Equal([1.0, 2.0], parsed.Samples.Select(s => s.Value));
    }

    [Fact]
    public void Parse_HostileInput_NeverThrowsAndBoundsItsReport()
    {
        var random = new Random(7);
        var fixture = Fixture("vllm-metrics-v1.txt");
        for (var round = 0; round < 500; round++)
        {
            var chars = fixture.ToCharArray();
            for (var i = 0; i < 20; i++)
            {
                chars[random.Next(chars.Length)] = (char)random.Next(0, 128);
            }

            var cut = new string(chars, 0, random.Next(chars.Length));
            var parsed = PrometheusTextParser.Parse(cut);
            Assert.True(parsed.Errors.Count <= PrometheusTextParser.MaxErrors + 1);
        }

        var huge = PrometheusTextParser.Parse(new string('x', 1_000_000) + " 1\nok 2\n" + string.Concat(Enumerable.Repeat("bad\n", 200)));
        Assert.Equal(2.0, Assert.Single(huge.Samples).Value);
        Assert.Equal(PrometheusTextParser.MaxErrors + 1, huge.Errors.Count);
        Assert.Contains("more lines skipped", huge.Errors[^1], StringComparison.Ordinal);
    }
}
