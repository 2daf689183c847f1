using System.Text.Json;
using Dispatcher.Grains.Abstractions.Configuration;
using Microsoft.Extensions.Options;

namespace Dispatcher.Frontend.Models;

/// <summary>The models the dispatcher serves, from configuration, in OpenAI's <c>/v1/models</c> shape.</summary>
internal sealed class ModelCatalog(IOptions<DispatcherOptions> options, TimeProvider time)
{
    private readonly long _created = time.GetUtcNow().ToUnixTimeSeconds();

    public bool Contains(string model) => options.Value.FindModel(model) is not null;

    public byte[] ListJson()
    {
        return Write(writer =>
        {
            writer.WriteStartObject();
            writer.WriteString("object", "list");
            writer.WriteStartArray("data");
            foreach (var model in options.Value.Models)
            {
                WriteCard(writer, model.Name);
            }

            writer.WriteEndArray();
            writer.WriteEndObject();
        });
    }

    public byte[] CardJson(string model) => Write(writer => WriteCard(writer, model));

    private void WriteCard(Utf8JsonWriter writer, string model)
    {
        writer.WriteStartObject();
        writer.WriteString("id", model);
        writer.WriteString("object", "model");
        writer.WriteNumber("created", _created);
        writer.WriteString("owned_by", "dispatcher");
        writer.WriteEndObject();
    }

    private static byte[] Write(Action<Utf8JsonWriter> body)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            body(writer);
        }

        return buffer.WrittenSpan.ToArray();
    }
}
