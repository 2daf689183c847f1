using System.Text.Json;
using Dispatcher.Silo.Remote;

namespace Dispatcher.Silo.Client;

/// <summary>Reads a lease call's answer, one <see cref="LeaseEvent"/> per line. Not thread-safe.</summary>
internal sealed class LeaseEventReader(Stream stream) : IDisposable
{
    private readonly StreamReader _reader = new(stream);

    /// <summary>The next event; null when the call has ended (by the silo, or broken).</summary>
    public async Task<LeaseEvent?> ReadAsync(CancellationToken cancellationToken)
    {
        while (await _reader.ReadLineAsync(cancellationToken).ConfigureAwait(false) is { } line)
        {
            if (line.Length > 0)
            {
                return JsonSerializer.Deserialize<LeaseEvent>(line, SiloProtocol.Json);
            }
        }

        return null;
    }

    public void Dispose() => _reader.Dispose();
}
