using Dispatcher.Grains.Abstractions.Leases;

namespace Dispatcher.Frontend.Forwarding;

/// <summary>
/// Wraps the client's response stream and watches the bytes on their way through, without holding any back:
/// it keeps the last <c>"prompt_tokens":N</c> and <c>"completion_tokens":N</c> it sees (vLLM's <c>usage</c>, in a
/// JSON body or in the final SSE chunk) and counts SSE <c>data:</c> events, so a lease can be released with
/// what the request generated. Writes and flushes pass straight through, one at a time (the forwarder's and the
/// watchdog's final event never overlap).
/// </summary>
internal sealed class UsageMeter(Stream inner, TimeProvider time) : Stream
{
    private static readonly byte[] PromptKey = "\"prompt_tokens\":"u8.ToArray();
    private static readonly byte[] CompletionKey = "\"completion_tokens\":"u8.ToArray();
    private static readonly byte[] EventStart = "data: {"u8.ToArray();

    private readonly Lock _writeGate = new();

    // One write or flush at a time on the client's stream: the watchdog's final event must not overlap a chunk the
    // forwarder is still writing (the response body does not take concurrent writes).
    private readonly SemaphoreSlim _writing = new(1, 1);
    private bool _ended;
    private int _promptMatched;
    private int _completionMatched;
    private int _eventMatched;
    private byte[]? _readingKey;
    private int _digits;
    private int _number;
    private int? _promptTokens;
    private int? _completionTokens;
    private int _events;

    /// <summary>
    /// The usage the response reported; without one, a streamed response's content events stand for its tokens
    /// (vLLM sends about one token per event). Null when nothing was seen.
    /// </summary>
    public LeaseUsage? Usage => _completionTokens is { } completion
        ? new LeaseUsage(_promptTokens ?? 0, completion)
        : _events > 0 ? new LeaseUsage(0, _events) : null;

    /// <summary><see cref="TimeProvider.GetTimestamp"/> of the last write (or of the start); the stall watchdog reads it.</summary>
    public long LastWrite { get; private set; } = time.GetTimestamp();

    /// <summary>
    /// Ends the stream from the dispatcher's side: writes one last SSE event and <c>[DONE]</c>, then drops
    /// anything the upstream might still send. Returns false when it had ended already.
    /// </summary>
    public async Task<bool> EndWithEventAsync(ReadOnlyMemory<byte> finalEvent, CancellationToken cancellationToken)
    {
        lock (_writeGate)
        {
            if (_ended)
            {
                return false;
            }

            _ended = true;
        }

        await _writing.WaitAsync(cancellationToken);
        try
        {
            await inner.WriteAsync(finalEvent, cancellationToken);
            await inner.FlushAsync(cancellationToken);
        }
        finally
        {
            _writing.Release();
        }

        return true;
    }

    public override bool CanRead => false;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        if (Accept(buffer))
        {
            inner.Write(buffer);
        }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (!Accept(buffer.Span))
        {
            return;
        }

        await _writing.WaitAsync(cancellationToken);
        try
        {
            await inner.WriteAsync(buffer, cancellationToken);
        }
        finally
        {
            _writing.Release();
        }
    }

    /// <summary>Scans a write and says whether it still goes to the client (not after the dispatcher ended the stream).</summary>
    private bool Accept(ReadOnlySpan<byte> buffer)
    {
        lock (_writeGate)
        {
            if (_ended)
            {
                return false;
            }

            LastWrite = time.GetTimestamp();
            Scan(buffer);
            return true;
        }
    }

    public override void Flush() => inner.Flush();

    public override async Task FlushAsync(CancellationToken cancellationToken)
    {
        await _writing.WaitAsync(cancellationToken);
        try
        {
            await inner.FlushAsync(cancellationToken);
        }
        finally
        {
            _writing.Release();
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _writing.Dispose();
        }

        base.Dispose(disposing);
    }

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    /// <summary>
    /// Matches the keys and the event start byte by byte, so a match split across two writes is still found.
    /// None of the patterns repeats its first byte where a mismatch could hide a match, so on a mismatch
    /// matching restarts from that byte.
    /// </summary>
    private void Scan(ReadOnlySpan<byte> bytes)
    {
        foreach (var b in bytes)
        {
            if (_readingKey is not null && ReadDigit(b))
            {
                continue;
            }

            if (Advance(ref _completionMatched, CompletionKey, b))
            {
                StartNumber(CompletionKey);
            }

            if (Advance(ref _promptMatched, PromptKey, b))
            {
                StartNumber(PromptKey);
            }

            if (Advance(ref _eventMatched, EventStart, b))
            {
                _events++;
            }
        }
    }

    private static bool Advance(ref int matched, byte[] pattern, byte b)
    {
        matched = b == pattern[matched] ? matched + 1 : b == pattern[0] ? 1 : 0;
        if (matched < pattern.Length)
        {
            return false;
        }

        matched = 0;
        return true;
    }

    private void StartNumber(byte[] key)
    {
        _readingKey = key;
        _digits = 0;
        _number = 0;
    }

    /// <summary>Consumes a byte of the number after a key; false when the number has ended.</summary>
    private bool ReadDigit(byte b)
    {
        if (b is >= (byte)'0' and <= (byte)'9' && _digits < 9)
        {
            _number = (_number * 10) + (b - '0');
            _digits++;
            return true;
        }

        if (b == (byte)' ' && _digits == 0)
        {
            return true;
        }

        if (_digits > 0)
        {
            if (ReferenceEquals(_readingKey, CompletionKey))
            {
                _completionTokens = _number;
            }
            else
            {
                _promptTokens = _number;
            }
        }

        _readingKey = null;
        return false;
    }
}
