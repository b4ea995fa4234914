using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Joules.Output;

/// <summary>
/// Writes a double that is not a number (NaN, an infinity: "not measured", "n/a") as JSON null, as summary.json does,
/// instead of the strings "NaN" or "Infinity" that no JSON reader takes as a number; reads null and those strings (older
/// files) back as NaN or the infinity.
/// </summary>
public sealed class NonFiniteAsNull : JsonConverter<double>
{
    /// <summary>One instance serves every options object.</summary>
    public static readonly NonFiniteAsNull Instance = new();

    public override bool HandleNull => true;

    public override double Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => reader.TokenType switch
    {
        JsonTokenType.Null => double.NaN,
        JsonTokenType.Number => reader.GetDouble(),
        JsonTokenType.String when double.TryParse(reader.GetString(), NumberStyles.Float, CultureInfo.InvariantCulture, out var v) => v,
        JsonTokenType.String => throw new JsonException($"'{reader.GetString()}' is not a number"),
        _ => throw new JsonException($"expected a number, found {reader.TokenType}"),
    };

    public override void Write(Utf8JsonWriter writer, double value, JsonSerializerOptions options)
    {
        if (double.IsFinite(value)) writer.WriteNumberValue(value);
        else writer.WriteNullValue();
    }
}
