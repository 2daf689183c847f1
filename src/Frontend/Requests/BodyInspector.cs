using System.Text.Json;
using Dispatcher.Grains.Abstractions.Configuration;

namespace Dispatcher.Frontend.Requests;

/// <summary>
/// Reads the top-level <c>model</c>, <c>stream</c> and <c>priority</c> of a JSON body in one forward pass
/// (no document is built) and checks that the whole body is well-formed JSON. Pure and thread-safe.
/// </summary>
internal static class BodyInspector
{
    /// <summary>The deepest nesting accepted; real OpenAI requests stay far below it.</summary>
    public const int MaxDepth = 64;

    /// <summary>The longest model id accepted.</summary>
    public const int MaxModelLength = 256;

    public static (InspectedBody? Body, BodyProblem? Problem) Inspect(ReadOnlyMemory<byte> content)
    {
        if (!System.Text.Unicode.Utf8.IsValid(content.Span))
        {
            return Problem("The request body is not valid UTF-8.");
        }

        string? model = null;
        bool? stream = null;
        int? priority = null;
        Range? priorityProperty = null;
        try
        {
            var reader = new Utf8JsonReader(content.Span, new JsonReaderOptions { MaxDepth = MaxDepth });
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return Problem("The request body must be a JSON object.");
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("model"u8))
                {
                    reader.Read();
                    if (model is not null)
                    {
                        return Problem("The field 'model' appears more than once.", "model");
                    }

                    if (reader.TokenType != JsonTokenType.String)
                    {
                        return Problem("The field 'model' must be a string.", "model");
                    }

                    model = reader.GetString()!;
                }
                else if (reader.ValueTextEquals("stream"u8))
                {
                    reader.Read();
                    if (stream is not null)
                    {
                        return Problem("The field 'stream' appears more than once.", "stream");
                    }

                    stream = reader.TokenType switch
                    {
                        JsonTokenType.True => true,
                        JsonTokenType.False or JsonTokenType.Null => false,
                        _ => null,
                    };
                    if (stream is null)
                    {
                        return Problem("The field 'stream' must be a boolean.", "stream");
                    }
                }
                else if (reader.ValueTextEquals("priority"u8))
                {
                    var propertyStart = (int)reader.TokenStartIndex;
                    reader.Read();
                    if (priority is not null)
                    {
                        return Problem("The field 'priority' appears more than once.", "priority");
                    }

                    if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt32(out var value) || value is < 1 or > SchedulingOptions.MaxPriority)
                    {
                        return Problem($"The field 'priority' must be a whole number from 1 to {SchedulingOptions.MaxPriority}.", "priority");
                    }

                    priority = value;
                    priorityProperty = propertyStart..(int)reader.BytesConsumed;
                }
                else
                {
                    reader.Read();
                    reader.Skip();
                }
            }

            // Reading past the end checks that nothing but white space follows the object.
            if (reader.TokenType != JsonTokenType.EndObject || reader.Read())
            {
                return Problem("The request body is not valid JSON.");
            }
        }
        catch (JsonException exception)
        {
            return Problem($"The request body is not valid JSON: {exception.Message}");
        }

        if (string.IsNullOrEmpty(model))
        {
            return Problem("You must provide a model parameter.", "model");
        }

        if (model.Length > MaxModelLength)
        {
            return Problem($"The model id is longer than {MaxModelLength} characters.", "model");
        }

        if (model.AsSpan().ContainsAnyInRange('\u0000', '\u001f') || model.Contains('\u007f', StringComparison.Ordinal))
        {
            return Problem("The model id contains control characters.", "model");
        }

        return (new InspectedBody(content, model, stream ?? false, priority, priorityProperty), null);
    }

    private static (InspectedBody?, BodyProblem?) Problem(string message, string? param = null) =>
        (null, new BodyProblem(param is null ? Errors.DispatcherError.InvalidJson : Errors.DispatcherError.InvalidField, message, param));
}
