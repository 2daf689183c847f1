using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Dispatcher.Testing;

/// <summary>
/// A logger provider that keeps every line with its category, scopes and structured values, so tests can check
/// what was logged (no secret anywhere, a request id on every line of a request).
/// </summary>
public sealed class CapturedLogs : ILoggerProvider, ISupportExternalScope
{
    private readonly ConcurrentQueue<CapturedLine> _lines = new();
    private IExternalScopeProvider? _scopes;

    public IReadOnlyCollection<CapturedLine> Entries => _lines;

    /// <summary>Each line as one string: level, category, event id, message, values, scopes and exception.</summary>
    public IEnumerable<string> Lines => _lines.Select(l => l.ToString());

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void SetScopeProvider(IExternalScopeProvider scopeProvider) => _scopes = scopeProvider;

    public void Dispose()
    {
    }

    private sealed class Logger(CapturedLogs owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => owner._scopes?.Push(state);

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            // Keep the structured values too: a secret in a placeholder must be caught even if the template hides it.
            var values = state is IEnumerable<KeyValuePair<string, object?>> pairs ? string.Join(";", pairs.Select(p => $"{p.Key}={p.Value}")) : "";
            var scopes = new Dictionary<string, string>(StringComparer.Ordinal);
            owner._scopes?.ForEachScope((scope, found) =>
            {
                if (scope is IEnumerable<KeyValuePair<string, object>> items)
                {
                    foreach (var (key, value) in items)
                    {
                        found[key] = value?.ToString() ?? "";
                    }
                }
            }, scopes);
            owner._lines.Enqueue(new CapturedLine(logLevel, category, eventId.Id, formatter(state, exception), values, scopes, exception?.ToString()));
        }
    }
}

/// <summary>One captured log line.</summary>
public sealed record CapturedLine(LogLevel Level, string Category, int EventId, string Message, string Values, IReadOnlyDictionary<string, string> Scopes, string? Exception)
{
    public override string ToString() =>
        $"{Level} {Category} [{EventId}] {Message} {Values} {string.Join(";", Scopes.Select(s => $"{s.Key}={s.Value}"))} {Exception}";
}
