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
    private static readonly byte[][] Keys = [PromptKey, CompletionKey];

    /// <summary>One less than the longest pattern: the most of a match an earlier write can hold.</summary>
    private static readonly int Overlap = Math.Max(CompletionKey.Length, Math.Max(PromptKey.Length, EventStart.Length)) - 1;

    private readonly Lock _writeGate = new();

    // One write or flush at a time on the client's stream: the watchdog's final event must not overlap a chunk the
    // forwarder is still writing (the response body does not take concurrent writes).
    private readonly SemaphoreSlim _writing = new(1, 1);
    private bool _ended;
    private readonly byte[] _carry = new byte[Overlap];
    private int _carried;
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
    /// Finds the keys and the event starts with vectorized searches (a byte-by-byte matcher cost 0.5 µs per streamed
    /// token: bench/RESULTS.md, 2026-12-02). A match split across two writes is found in the junction of the last
    /// <see cref="Overlap"/> bytes kept from the earlier write and the start of this one; a number cut by the end of a
    /// write is continued at the start of the next.
    /// </summary>
    private void Scan(ReadOnlySpan<byte> bytes)
    {
        var from = 0;
        while (_readingKey is not null && from < bytes.Length && ReadDigit(bytes[from]))
        {
            from++;
        }

        if (_carried > 0)
        {
            // Only matches that begin in the kept bytes and end in this write: the others were or will be found whole.
            Span<byte> junction = stackalloc byte[2 * Overlap];
            _carry.AsSpan(0, _carried).CopyTo(junction);
            var head = bytes[..Math.Min(bytes.Length, Overlap)];
            head.CopyTo(junction[_carried..]);
            junction = junction[..(_carried + head.Length)];
            if (CrossingMatch(junction, EventStart) >= 0)
            {
                _events++;
            }

            foreach (var key in Keys)
            {
                if (CrossingMatch(junction, key) is var at and >= 0)
                {
                    from = Math.Max(from, ReadNumber(bytes, at + key.Length - _carried, key));
                }
            }
        }

        var whole = bytes[from..];
        for (var next = whole.IndexOf(EventStart); next >= 0; next = whole.IndexOf(EventStart))
        {
            _events++;
            whole = whole[(next + EventStart.Length)..];
        }

        // Keys in the order they come, so the last of each wins and a number cut by the end of this write is the one kept.
        var position = from;
        while (true)
        {
            var prompt = bytes[position..].IndexOf(PromptKey);
            var completion = bytes[position..].IndexOf(CompletionKey);
            if (prompt < 0 && completion < 0)
            {
                break;
            }

            var (at, key) = completion < 0 || (prompt >= 0 && prompt < completion) ? (prompt, PromptKey) : (completion, CompletionKey);
            position = ReadNumber(bytes, position + at + key.Length, key);
        }

        Keep(bytes);
    }

    /// <summary>Where <paramref name="pattern"/> begins in the kept bytes and ends in this write's, or -1 (at most one can).</summary>
    private int CrossingMatch(ReadOnlySpan<byte> junction, byte[] pattern)
    {
        for (var offset = 0; offset < _carried;)
        {
            var found = junction[offset..].IndexOf(pattern);
            if (found < 0 || offset + found >= _carried)
            {
                return -1;
            }

            if (offset + found + pattern.Length > _carried)
            {
                return offset + found;
            }

            offset += found + 1; // wholly in the kept bytes: found with the earlier write
        }

        return -1;
    }

    /// <summary>Reads the number after <paramref name="key"/> from <paramref name="start"/>; returns where it ended.</summary>
    private int ReadNumber(ReadOnlySpan<byte> bytes, int start, byte[] key)
    {
        _readingKey = key;
        _digits = 0;
        _number = 0;
        var at = start;
        while (at < bytes.Length && ReadDigit(bytes[at]))
        {
            at++;
        }

        return at;
    }

    /// <summary>Keeps the last <see cref="Overlap"/> bytes written so far, for a match that continues in the next write.</summary>
    private void Keep(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length >= Overlap)
        {
            bytes[^Overlap..].CopyTo(_carry);
            _carried = Overlap;
            return;
        }

        var kept = Math.Min(_carried, Overlap - bytes.Length);
        _carry.AsSpan(_carried - kept, kept).CopyTo(_carry);
        bytes.CopyTo(_carry.AsSpan(kept));
        _carried = kept + bytes.Length;
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
