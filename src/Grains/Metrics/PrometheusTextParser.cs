using System.Globalization;
using System.Text;

namespace Dispatcher.Grains.Metrics;

/// <summary>
/// Parses the Prometheus text exposition format (0.0.4) and its OpenMetrics variant, as vLLM serves them:
/// comments, HELP and TYPE lines (optional, in any order), labels with escapes and commas inside values,
/// Go-style floats (<c>5.453083e+06</c>, <c>+Inf</c>, <c>NaN</c>), optional timestamps, exemplars and
/// <c># EOF</c>. It never throws on input: a line it cannot read is skipped and reported in
/// <see cref="ParsedMetrics.Errors"/>, so a truncated or partly garbled scrape still yields what is valid.
/// Pure and thread-safe.
/// </summary>
public static class PrometheusTextParser
{
    /// <summary>Lines longer than this are skipped (a sane vLLM line is well under 1 KiB).</summary>
    public const int MaxLineLength = 16 * 1024;

    /// <summary>At most this many errors are reported; later ones are counted in the last message.</summary>
    public const int MaxErrors = 50;

    public static ParsedMetrics Parse(string text)
    {
        var samples = new List<MetricSample>();
        var types = new Dictionary<string, string>(StringComparer.Ordinal);
        var errors = new List<string>();
        var skipped = 0;
        var lineNumber = 0;
        foreach (var range in text.AsSpan().Split('\n'))
        {
            lineNumber++;
            var line = text.AsSpan()[range].TrimEnd('\r');
            if (line.IsEmpty || line.IsWhiteSpace())
            {
                continue;
            }

            string? error;
            if (line.Length > MaxLineLength)
            {
                error = $"longer than {MaxLineLength} characters";
            }
            else if (line[0] == '#')
            {
                if (IsEof(line))
                {
                    break;
                }

                error = ReadComment(line, types);
            }
            else
            {
                error = ReadSample(line, out var sample);
                if (sample is not null)
                {
                    samples.Add(sample);
                }
            }

            if (error is not null)
            {
                if (errors.Count < MaxErrors)
                {
                    errors.Add($"line {lineNumber}: {error}");
                }
                else
                {
                    skipped++;
                }
            }
        }

        if (skipped > 0)
        {
            errors.Add($"{skipped} more lines skipped");
        }

        return new ParsedMetrics(samples, types, errors);
    }

    private static bool IsEof(ReadOnlySpan<char> line) => line.Trim().SequenceEqual("# EOF");

    private static string? ReadComment(ReadOnlySpan<char> line, Dictionary<string, string> types)
    {
        var rest = line[1..].TrimStart(' ');
        if (!rest.StartsWith("TYPE") || (rest.Length > 4 && rest[4] != ' '))
        {
            return null; // HELP, UNIT and free comments carry nothing we need
        }

        rest = rest[4..].Trim(' ');
        var space = rest.IndexOf(' ');
        if (space <= 0 || !IsMetricName(rest[..space]))
        {
            return "malformed TYPE line";
        }

        types[rest[..space].ToString()] = rest[(space + 1)..].Trim(' ').ToString();
        return null;
    }

    private static string? ReadSample(ReadOnlySpan<char> line, out MetricSample? sample)
    {
        sample = null;
        var nameEnd = 0;
        while (nameEnd < line.Length && IsNameChar(line[nameEnd], nameEnd == 0))
        {
            nameEnd++;
        }

        if (nameEnd == 0)
        {
            return "no metric name";
        }

        var name = line[..nameEnd].ToString();
        var rest = line[nameEnd..];
        var labels = new List<KeyValuePair<string, string>>();
        if (!rest.IsEmpty && rest[0] == '{')
        {
            var error = ReadLabels(ref rest, labels);
            if (error is not null)
            {
                return error;
            }
        }

        rest = rest.TrimStart(' ');
        if (rest.IsEmpty)
        {
            return "no value";
        }

        // OpenMetrics exemplar: "value # {labels} value [timestamp]".
        var exemplar = rest.IndexOf(" #", StringComparison.Ordinal);
        if (exemplar >= 0)
        {
            rest = rest[..exemplar];
        }

        var valueEnd = rest.IndexOf(' ');
        var valueText = valueEnd < 0 ? rest : rest[..valueEnd];
        if (!TryParseValue(valueText, out var value))
        {
            return $"value '{Shorten(valueText)}' is not a number";
        }

        if (valueEnd >= 0)
        {
            var timestamp = rest[(valueEnd + 1)..].Trim(' ');
            if (!timestamp.IsEmpty && !double.TryParse(timestamp, NumberStyles.Float, CultureInfo.InvariantCulture, out _))
            {
                return $"timestamp '{Shorten(timestamp)}' is not a number";
            }
        }

        sample = new MetricSample(name, labels, value);
        return null;
    }

    private static string? ReadLabels(ref ReadOnlySpan<char> rest, List<KeyValuePair<string, string>> labels)
    {
        var i = 1; // past '{'
        var value = new StringBuilder();
        while (true)
        {
            while (i < rest.Length && (rest[i] == ' ' || rest[i] == ','))
            {
                i++;
            }

            if (i >= rest.Length)
            {
                return "labels not closed";
            }

            if (rest[i] == '}')
            {
                rest = rest[(i + 1)..];
                return null;
            }

            var nameStart = i;
            while (i < rest.Length && IsNameChar(rest[i], i == nameStart) && rest[i] != ':')
            {
                i++;
            }

            if (i == nameStart || i >= rest.Length || rest[i] != '=' || i + 1 >= rest.Length || rest[i + 1] != '"')
            {
                return "malformed label";
            }

            var labelName = rest[nameStart..i].ToString();
            i += 2;
            value.Clear();
            var closed = false;
            while (i < rest.Length)
            {
                var c = rest[i++];
                if (c == '"')
                {
                    closed = true;
                    break;
                }

                if (c == '\\' && i < rest.Length)
                {
                    var escaped = rest[i++];
                    value.Append(escaped switch { 'n' => '\n', _ => escaped });
                }
                else
                {
                    value.Append(c);
                }
            }

            if (!closed)
            {
                return "label value not closed";
            }

            labels.Add(new KeyValuePair<string, string>(labelName, value.ToString()));
        }
    }

    /// <summary>Parses a sample value: Go/Python float text, <c>+Inf</c>, <c>-Inf</c>, <c>NaN</c>.</summary>
    public static bool TryParseValue(ReadOnlySpan<char> text, out double value)
    {
        if (text.Equals("+Inf", StringComparison.OrdinalIgnoreCase) || text.Equals("Inf", StringComparison.OrdinalIgnoreCase))
        {
            value = double.PositiveInfinity;
            return true;
        }

        if (text.Equals("-Inf", StringComparison.OrdinalIgnoreCase))
        {
            value = double.NegativeInfinity;
            return true;
        }

        if (text.Equals("NaN", StringComparison.OrdinalIgnoreCase))
        {
            value = double.NaN;
            return true;
        }

        return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out value) && double.IsFinite(value);
    }

    private static bool IsMetricName(ReadOnlySpan<char> name)
    {
        for (var i = 0; i < name.Length; i++)
        {
            if (!IsNameChar(name[i], i == 0))
            {
                return false;
            }
        }

        return !name.IsEmpty;
    }

    private static bool IsNameChar(char c, bool first) =>
        char.IsAsciiLetter(c) || c == '_' || c == ':' || (!first && char.IsAsciiDigit(c));

    private static string Shorten(ReadOnlySpan<char> text) => text.Length <= 40 ? text.ToString() : string.Concat(text[..40], "...");
}
