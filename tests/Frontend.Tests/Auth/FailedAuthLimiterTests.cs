using System.Net;
using Dispatcher.Frontend.Auth;
using Microsoft.Extensions.Options;

namespace Dispatcher.Frontend.Tests.Auth;

/// <summary>Failed authentications counted per client: an IPv4 address, or an IPv6 /64.</summary>
public sealed class FailedAuthLimiterTests
{
    [Fact]
    public void Failed_PastTheLimit_ClientBlockedForTheRestOfTheMinuteOthersNot()
    {
        using var limiter = new FailedAuthLimiter(Options.Create(new AuthOptions { MaxFailedAttemptsPerMinute = 2 }));
        var client = IPAddress.Parse("203.0.113.7");

        limiter.Failed(client);
        Assert.Null(limiter.Blocked(client));
        limiter.Failed(client);

        Assert.InRange(limiter.Blocked(client) ?? TimeSpan.Zero, TimeSpan.FromTicks(1), TimeSpan.FromMinutes(1));
        Assert.NotNull(limiter.Blocked(IPAddress.Parse("::ffff:203.0.113.7"))); // the same client over IPv6 sockets
        Assert.Null(limiter.Blocked(IPAddress.Parse("203.0.113.8")));
    }

    [Fact]
    public void Failed_FromOneIPv6Slash64_CountedTogether()
    {
        using var limiter = new FailedAuthLimiter(Options.Create(new AuthOptions { MaxFailedAttemptsPerMinute = 2 }));

        limiter.Failed(IPAddress.Parse("2001:db8:1:2::1"));
        limiter.Failed(IPAddress.Parse("2001:db8:1:2:ffff::9")); // another address of the same /64

        Assert.NotNull(limiter.Blocked(IPAddress.Parse("2001:db8:1:2::77")));
        Assert.Null(limiter.Blocked(IPAddress.Parse("2001:db8:1:3::1")));
    }

    [Fact]
    public void Failed_LimitZero_NeverBlocks()
    {
        using var limiter = new FailedAuthLimiter(Options.Create(new AuthOptions { MaxFailedAttemptsPerMinute = 0 }));
        var client = IPAddress.Loopback;
        for (var i = 0; i < 100; i++)
        {
            limiter.Failed(client);
        }

        Assert.Null(limiter.Blocked(client));
    }
}
