using System.Globalization;
using System.Text;

namespace Dispatcher.Frontend.Requests;

/// <summary>
/// Sets or removes the top-level <c>priority</c> of a forwarded body, touching no other byte. The client's
/// field means "higher is more important" to the dispatcher, while vLLM reads "lower is sooner" (and V0
/// engines reject it without priority scheduling), so it never reaches vLLM as the client wrote it.
/// </summary>
internal static class PriorityRewriter
{
    /// <summary>
    /// Returns <paramref name="body"/>'s content with <c>priority</c> set to <paramref name="value"/>, or removed
    /// when <paramref name="value"/> is null. Returns the content itself when there is nothing to change.
    /// </summary>
    public static ReadOnlyMemory<byte> Rewrite(InspectedBody body, int? value)
    {
        var content = body.Content.Span;
        if (body.PriorityProperty is not { } property)
        {
            if (value is null)
            {
                return body.Content;
            }

            // The body is an object with at least "model", so a property and a comma can follow the brace.
            var open = content.IndexOf((byte)'{');
            return Concat(content[..(open + 1)], Encoding.UTF8.GetBytes($"\"priority\":{Format(value.Value)},"), content[(open + 1)..]);
        }

        var (start, end) = (property.Start.Value, property.End.Value);
        if (value is { } replacement)
        {
            return Concat(content[..start], Encoding.UTF8.GetBytes($"\"priority\":{Format(replacement)}"), content[end..]);
        }

        // Remove the property with one of its commas: the one after it, or else the one before it.
        var after = end;
        while (after < content.Length && IsWhiteSpace(content[after]))
        {
            after++;
        }

        if (after < content.Length && content[after] == (byte)',')
        {
            return Concat(content[..start], [], content[(after + 1)..]);
        }

        var before = start - 1;
        while (before >= 0 && IsWhiteSpace(content[before]))
        {
            before--;
        }

        return content[before] == (byte)','
            ? Concat(content[..before], [], content[end..])
            : Concat(content[..start], [], content[end..]);
    }

    private static string Format(int value) => value.ToString(CultureInfo.InvariantCulture);

    private static bool IsWhiteSpace(byte b) => b is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n';

    private static byte[] Concat(ReadOnlySpan<byte> head, ReadOnlySpan<byte> middle, ReadOnlySpan<byte> tail)
    {
        var result = new byte[head.Length + middle.Length + tail.Length];
        head.CopyTo(result);
        middle.CopyTo(result.AsSpan(head.Length));
        tail.CopyTo(result.AsSpan(head.Length + middle.Length));
        return result;
    }
}
