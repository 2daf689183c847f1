using Dispatcher.Grains.Abstractions.Configuration;

namespace Dispatcher.Grains.Tests.Configuration;

public sealed class DispatcherOptionsValidatorTests
{
    [Fact]
    public void Validate_BrokenSettings_NamesEverySettingAtFault()
    {
        var options = new DispatcherOptions
        {
            Models =
            [
                new ModelOptions { Name = "m", Backends = [] },
                new ModelOptions { Name = "m", Backends = ["ftp://x", "http://ok:8000"], MaxConcurrentLeasesPerBackend = 0 },
                new ModelOptions { Name = "d", Backends = ["http://ok:8000"], Discovery = new DiscoveryOptions { Service = " ", Scheme = "tcp" } },
            ],
            Tokens =
            [
                new TokenOptions { Name = "a", Token = "t", TokenSha256 = new string('a', 64) },
                new TokenOptions { Name = "", TokenSha256 = "xyz", Priority = 0, Threshold = 0 },
                new TokenOptions { Name = "b", Token = "same" },
                new TokenOptions { Name = "c", Token = "same" },
            ],
            QueueTimeout = TimeSpan.Zero,
        };

        var errors = DispatcherOptionsValidator.Validate(options);

        Assert.Contains("Dispatcher:QueueTimeout must be positive.", errors);
        Assert.Contains("Dispatcher:Models:0:Backends must not be empty (or set Discovery to find the replicas in Kubernetes).", errors);
        Assert.Contains("Dispatcher:Models:2: give either Backends or Discovery, not both.", errors);
        Assert.Contains("Dispatcher:Models:2:Discovery:Service must name the Kubernetes Service of the model's replicas.", errors);
        Assert.Contains("Dispatcher:Models:2:Discovery:Scheme must be http or https.", errors);
        Assert.Contains("Dispatcher:Models:1:Name 'm' is already used by another model.", errors);
        Assert.Contains(errors, e => e.StartsWith("Dispatcher:Models:1:Backends:0 must be an absolute http", StringComparison.Ordinal));
        Assert.Contains("Dispatcher:Models:1:MaxConcurrentLeasesPerBackend must be at least 1.", errors);
        Assert.Contains("Dispatcher:Tokens:0 must set exactly one of Token and TokenSha256.", errors);
        Assert.Contains("Dispatcher:Tokens:1:TokenSha256 must be 64 hexadecimal digits.", errors);
        Assert.Contains("Dispatcher:Tokens:1:Priority must be from 1 to 1000.", errors);
        Assert.Contains("Dispatcher:Tokens:1:Threshold must be at least 1.", errors);
        Assert.Contains("Dispatcher:Tokens:3 repeats a token already configured.", errors);
        Assert.Equal(13, errors.Count);
    }

    [Fact]
    public void Validate_GoodSettings_HasNoErrors()
    {
        var options = new DispatcherOptions
        {
            Models =
            [
                new ModelOptions { Name = "llama", Backends = ["http://vllm-0:8000/", "https://vllm-1"] },
                new ModelOptions { Name = "qwen", Discovery = new DiscoveryOptions { Service = "vllm-qwen", Port = "http" } },
            ],
            Tokens = [new TokenOptions { Name = "team", TokenSha256 = new string('A', 64), Priority = 5, Threshold = 10 }],
        };

        Assert.Empty(DispatcherOptionsValidator.Validate(options));
    }
}
