using System.Collections.Concurrent;
using Dispatcher.Grains.Abstractions.Tokens;
using Microsoft.Extensions.Options;

namespace Dispatcher.Frontend.Auth;

/// <summary>
/// The tokens this Frontend authenticated within <see cref="AuthOptions.PolicyCacheDuration"/>, keyed by hash, so that a
/// request asks its token's grain once (its model grain does, at admission) instead of twice. Only found tokens are kept:
/// an unknown one is asked about every time (and counted by the <see cref="FailedAuthLimiter"/>). Memory is bounded by the
/// tokens that exist; expired entries are dropped when the cache reaches <see cref="PruneAt"/> entries. Thread-safe.
/// </summary>
internal sealed class TokenPolicyCache(IOptions<AuthOptions> options, TimeProvider time)
{
    /// <summary>Past this many entries, expired ones are dropped before another is added; none is added while it stays full.</summary>
    public const int PruneAt = 100_000;

    private readonly TimeSpan _duration = options.Value.PolicyCacheDuration;
    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Task<TokenLookup?>> _lookups = new(StringComparer.Ordinal);

    /// <summary>
    /// The token's lookup at its grain (<paramref name="lookUp"/>: null when no silo answered), shared by every request
    /// that needs it while it is on its way: a burst of one token's 100,000 requests, arriving as its entry expired, each
    /// asked its grain and retried, more than a million calls that expired in the silo's queue. The lookup runs to its end
    /// even when the request that started it leaves; <paramref name="aborted"/> only ends this request's wait.
    /// </summary>
    public Task<TokenLookup?> LookUpAsync(string tokenId, Func<string, Task<TokenLookup?>> lookUp, CancellationToken aborted)
    {
        if (!_lookups.TryGetValue(tokenId, out var shared))
        {
            var mine = new TaskCompletionSource<TokenLookup?>(TaskCreationOptions.RunContinuationsAsynchronously);
            shared = _lookups.GetOrAdd(tokenId, mine.Task);
            if (shared == mine.Task)
            {
                _ = RunAsync(tokenId, mine, lookUp);
            }
        }

        return shared.WaitAsync(aborted);
    }

    /// <summary>The token as authenticated within the cache duration, or null.</summary>
    public AuthenticatedToken? Find(string tokenId) =>
        _entries.TryGetValue(tokenId, out var entry) && time.GetElapsedTime(entry.Fetched) < _duration ? entry.Token : null;

    /// <summary>Keeps a token its grain just found.</summary>
    public void Put(AuthenticatedToken token)
    {
        if (_duration <= TimeSpan.Zero)
        {
            return;
        }

        if (_entries.Count >= PruneAt)
        {
            foreach (var (tokenId, entry) in _entries)
            {
                if (time.GetElapsedTime(entry.Fetched) >= _duration)
                {
                    _entries.TryRemove(tokenId, out _);
                }
            }

            if (_entries.Count >= PruneAt)
            {
                return;
            }
        }

        _entries[token.TokenId] = new Entry(token, time.GetTimestamp());
    }

    /// <summary>Forgets a token its grain no longer knows (it was revoked while cached here).</summary>
    public void Forget(string tokenId) => _entries.TryRemove(tokenId, out _);

    /// <summary>Runs a shared lookup; it is no longer shared once it ended, so the next miss asks again.</summary>
    private async Task RunAsync(string tokenId, TaskCompletionSource<TokenLookup?> shared, Func<string, Task<TokenLookup?>> lookUp)
    {
        try
        {
            var lookup = await lookUp(tokenId);
            _lookups.TryRemove(KeyValuePair.Create(tokenId, shared.Task));
            shared.SetResult(lookup);
        }
        catch (Exception exception)
        {
            _lookups.TryRemove(KeyValuePair.Create(tokenId, shared.Task));
            shared.SetException(exception);
        }
    }

    private sealed record Entry(AuthenticatedToken Token, long Fetched);
}
