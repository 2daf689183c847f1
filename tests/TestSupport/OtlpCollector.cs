using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Dispatcher.Testing;

/// <summary>
/// A fake OpenTelemetry collector on loopback (OTLP/HTTP with protobuf bodies): counts the pushes per signal and
/// decodes the spans of <c>/v1/traces</c> (trace id, span id, parent, name, and the pushing process's
/// <c>service.name</c>), reading just the fields it needs from the protobuf wire format.
/// </summary>
public sealed class OtlpCollector : IAsyncDisposable
{
    private readonly WebApplication _app;

    private OtlpCollector(WebApplication app) => _app = app;

    /// <summary>Pushes received, by signal (<c>traces</c>, <c>metrics</c>).</summary>
    public ConcurrentDictionary<string, int> Pushes { get; } = new(StringComparer.Ordinal);

    public ConcurrentBag<Span> Spans { get; } = [];

    /// <summary>The address to configure as <c>Dispatcher:Telemetry:OtlpEndpoint</c>.</summary>
    public string Address => _app.Urls.First();

    public static async Task<OtlpCollector> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var collector = new OtlpCollector(builder.Build());
        collector._app.MapPost("/v1/{signal}", async (string signal, HttpRequest request) =>
        {
            using var body = new MemoryStream();
            await request.Body.CopyToAsync(body);
            if (body.Length > 0 && request.ContentType == "application/x-protobuf")
            {
                collector.Pushes.AddOrUpdate(signal, 1, (_, n) => n + 1);
                if (signal == "traces")
                {
                    foreach (var span in ReadSpans(body.ToArray()))
                    {
                        collector.Spans.Add(span);
                    }
                }
            }

            return Results.Ok();
        });
        await collector._app.StartAsync();
        return collector;
    }

    public ValueTask DisposeAsync() => _app.DisposeAsync();

    /// <summary>One span as pushed. Ids in lower-case hex; <see cref="ParentSpanId"/> empty for a root.</summary>
    public sealed record Span(string Service, string TraceId, string SpanId, string ParentSpanId, string Name, int Kind);

    // ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1; }
    // ResourceSpans { Resource resource = 1; repeated ScopeSpans scope_spans = 2; }
    // Resource { repeated KeyValue attributes = 1; }  KeyValue { string key = 1; AnyValue value = 2; }  AnyValue { string string_value = 1; }
    // ScopeSpans { InstrumentationScope scope = 1; repeated Span spans = 2; }
    // Span { bytes trace_id = 1; bytes span_id = 2; string trace_state = 3; bytes parent_span_id = 4; string name = 5; SpanKind kind = 6; }
    private static IEnumerable<Span> ReadSpans(byte[] request)
    {
        foreach (var resourceSpans in Fields(request).Where(f => f.Number == 1).Select(f => f.Bytes!))
        {
            var service = "";
            foreach (var field in Fields(resourceSpans))
            {
                if (field.Number == 1)
                {
                    foreach (var attribute in Fields(field.Bytes!).Where(f => f.Number == 1).Select(f => Fields(f.Bytes!).ToList()))
                    {
                        if (Text(attribute, 1) == "service.name" && attribute.FirstOrDefault(f => f.Number == 2)?.Bytes is { } value)
                        {
                            service = Text(Fields(value).ToList(), 1);
                        }
                    }
                }
            }

            foreach (var scopeSpans in Fields(resourceSpans).Where(f => f.Number == 2).Select(f => f.Bytes!))
            {
                foreach (var span in Fields(scopeSpans).Where(f => f.Number == 2).Select(f => Fields(f.Bytes!).ToList()))
                {
                    yield return new Span(service, Hex(span, 1), Hex(span, 2), Hex(span, 4), Text(span, 5), (int)(span.FirstOrDefault(f => f.Number == 6)?.Varint ?? 0));
                }
            }
        }
    }

    private static string Text(List<Field> fields, int number) =>
        fields.FirstOrDefault(f => f.Number == number)?.Bytes is { } bytes ? System.Text.Encoding.UTF8.GetString(bytes) : "";

    private static string Hex(List<Field> fields, int number) =>
        fields.FirstOrDefault(f => f.Number == number)?.Bytes is { } bytes ? Convert.ToHexStringLower(bytes) : "";

    private sealed record Field(int Number, ulong Varint, byte[]? Bytes);

    /// <summary>The top-level fields of one protobuf message: varints, length-delimited bytes; fixed widths skipped.</summary>
    private static IEnumerable<Field> Fields(byte[] message)
    {
        var position = 0;
        while (position < message.Length)
        {
            var key = ReadVarint(message, ref position);
            var (number, type) = ((int)(key >> 3), (int)(key & 7));
            switch (type)
            {
                case 0:
                    yield return new Field(number, ReadVarint(message, ref position), null);
                    break;
                case 1:
                    position += 8;
                    break;
                case 2:
                    var length = (int)ReadVarint(message, ref position);
                    yield return new Field(number, 0, message[position..(position + length)]);
                    position += length;
                    break;
                case 5:
                    position += 4;
                    break;
                default:
                    throw new InvalidDataException($"protobuf wire type {type} at {position}");
            }
        }
    }

    private static ulong ReadVarint(byte[] message, ref int position)
    {
        ulong value = 0;
        for (var shift = 0; ; shift += 7)
        {
            var b = message[position++];
            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80)
            {
                return value;
            }
        }
    }
}
