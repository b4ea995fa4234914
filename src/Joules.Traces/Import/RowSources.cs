using System.Text;
using System.Text.Json;
using CsvHelper;

namespace Joules.Traces.Import;

/// <summary>Rows of a source file as text, one array per row holding the planned columns (null where a field is missing).</summary>
internal static class RowSources
{
    public static IEnumerable<TraceRequest> Csv(string path, TraceImportOptions options, ImportReport report)
    {
        var csvOptions = CsvReaderOptions.Default with
        {
            Separator = ',',
            HasHeader = true,
            TrimWhitespace = true,
            TrackLineNumbers = true,
            PoolStrings = true,
        };
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        report.BytesTotal = file.Length;
        using var reader = CsvReader.Create(file, csvOptions, leaveOpen: true);
        reader.ReadHeader();
        if (reader.Headers.Count == 0) throw new InvalidDataException($"{path}: empty file (no header line)");
        var header = reader.Headers.Select(h => h.Trim()).ToArray();
        var plan = LayoutPlan.Resolve(path, header, options, isJson: false);
        report.Format = plan.Format;
        report.Columns = plan.OptionalColumns(header);
        var columns = plan.Columns;
        var index = new int[columns.Length];
        for (var c = 0; c < columns.Length; c++)
        {
            index[c] = columns[c] is { } name ? Array.IndexOf(header, name) : -1;
            if (columns[c] is { } n && index[c] < 0 && !plan.IsOptional(n))
                throw new TraceFormatException(path, 1, n, $"a header column named '{n}'", string.Join(",", header));
        }
        report.SourceIds = index[7] >= 0 && !options.Renumber;
        var converter = new RowConverter(path, plan, options, report);
        var values = new string?[columns.Length];
        while (reader.Read())
        {
            var count = reader.FieldCount;
            if ((++report.RowsRead & 0xFFF) == 0) report.BytesRead = file.Position;
            if (count > header.Length)
            {
                // A field past the header is data no column names: a shifted or merged row, which reading by position
                // would take apart silently.
                var err = new TraceFormatException(path, reader.LineNumber, "(row)", $"at most {header.Length} fields, as the header has", $"{count} fields");
                if (!options.SkipInvalid) throw err;
                report.Skip(err);
                continue;
            }
            for (var c = 0; c < index.Length; c++) values[c] = index[c] >= 0 && index[c] < count ? reader.GetString(index[c]) ?? "" : null;
            if (Convert(converter, values, reader.LineNumber, options, report, out var request)) yield return request;
        }
        report.BytesRead = report.BytesTotal;
    }

    public static IEnumerable<TraceRequest> JsonLines(string path, TraceImportOptions options, ImportReport report)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        report.BytesTotal = file.Length;
        using var reader = new StreamReader(file, Encoding.UTF8, true, 1 << 16);
        RowConverter? converter = null;
        LayoutPlan? plan = null;
        string?[] values = [];
        long line = 0;
        while (reader.ReadLine() is { } text)
        {
            line++;
            if (string.IsNullOrWhiteSpace(text)) continue;
            if (plan is null)
            {
                var keys = TopLevelKeys(path, text, line);
                plan = LayoutPlan.Resolve(path, keys, options, isJson: true);
                report.Format = plan.Format;
                // JSON records may omit keys the first one has, so take every mapped optional column.
                report.Columns = plan.OptionalColumns(new string?[] { plan.Map.Model, plan.Map.Tenant, plan.Map.Session, plan.Map.Slo }.OfType<string>().Concat(keys).ToList());
                report.SourceIds = plan.Map.RequestId is not null && !options.Renumber;
                converter = new RowConverter(path, plan, options, report);
                values = new string?[plan.Columns.Length];
            }
            if ((++report.RowsRead & 0xFFF) == 0) report.BytesRead = file.Position;
            TraceRequest request;
            bool keep;
            try
            {
                // Mooncake's hash_ids (one id per 512-token block, equal ids = equal prefix) drive prefix caching.
                var hashes = Extract(text, plan.Columns, values, plan.Format == TraceFormat.Mooncake ? "hash_ids" : null, path, line);
                keep = Convert(converter!, values, line, options, report, out request);
                if (keep && hashes is not null) request = request with { HashIds = hashes };
            }
            catch (JsonException e)
            {
                var err = Invalid(path, line, text, e);
                if (!options.SkipInvalid) throw err;
                report.Skip(err);
                continue;
            }
            if (keep) yield return request;
        }
        if (plan is null) throw new InvalidDataException($"{path}: empty file (no JSON records)");
        report.BytesRead = report.BytesTotal;
    }

    private static bool Convert(RowConverter converter, string?[] values, long line, TraceImportOptions options, ImportReport report, out TraceRequest request)
    {
        try
        {
            if (converter.TryConvert(values, line, out request)) { report.Imported++; return true; }
            return false;
        }
        catch (TraceFormatException e) when (options.SkipInvalid)
        {
            report.Skip(e);
            request = default;
            return false;
        }
    }

    private static List<string> TopLevelKeys(string path, string text, long line)
    {
        try
        {
            using var doc = JsonDocument.Parse(text);
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new JsonException("not an object");
            return doc.RootElement.EnumerateObject().Select(p => p.Name).ToList();
        }
        catch (JsonException e)
        {
            throw Invalid(path, line, text, e);
        }
    }

    /// <summary>A record that is not one JSON object, shown where it stops being valid in its own characters (not the JSON library's message).</summary>
    private static TraceFormatException Invalid(string path, long line, string text, JsonException e)
    {
        if (e.BytePositionInLine is not { } at) return new TraceFormatException(path, line, "(record)", "one JSON object per line", text);
        var pos = (int)Math.Min(at, text.Length);
        var from = Math.Max(0, pos - 25);
        var snippet = (from > 0 ? "…" : "") + text[from..Math.Min(text.Length, pos + 25)] + (pos + 25 < text.Length ? "…" : "");
        return new TraceFormatException(path, line, "(record)", $"one JSON object per line (it stops being one at character {pos + 1})", snippet);
    }

    /// <summary>Reads the wanted top-level properties of one JSON object as text, skipping the rest; returns the integer array under <paramref name="hashKey"/> when asked for one.</summary>
    private static long[]? Extract(string text, string?[] columns, string?[] values, string? hashKey, string path, long line)
    {
        Array.Clear(values);
        long[]? hashes = null;
        var bytes = Encoding.UTF8.GetBytes(text);
        var r = new Utf8JsonReader(bytes);
        if (!r.Read() || r.TokenType != JsonTokenType.StartObject) throw new JsonException("not an object");
        while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
        {
            if (hashKey is not null && r.ValueTextEquals(hashKey))
            {
                r.Read();
                hashes = ReadIds(ref r, path, line, hashKey);
                continue;
            }
            var slot = -1;
            for (var c = 0; c < columns.Length; c++)
                if (columns[c] is { } name && r.ValueTextEquals(name)) { slot = c; break; }
            r.Read();
            if (slot < 0 || r.TokenType is JsonTokenType.StartArray or JsonTokenType.StartObject) { r.Skip(); continue; }
            values[slot] = r.TokenType switch
            {
                JsonTokenType.String => r.GetString(),
                JsonTokenType.Number => Encoding.UTF8.GetString(r.ValueSpan),
                JsonTokenType.Null => null,
                _ => Encoding.UTF8.GetString(r.ValueSpan),
            };
        }
        // Nothing but white space may follow the record: a second object on the line is a second request, which reading
        // only the first would drop without a word (the reader throws on anything after a single value).
        if (r.TokenType != JsonTokenType.EndObject || r.Read()) throw new JsonException("more than one JSON value on the line", null, 0, r.BytesConsumed);
        return hashes;
    }

    private static long[]? ReadIds(ref Utf8JsonReader r, string path, long line, string key)
    {
        if (r.TokenType == JsonTokenType.Null) return null;
        if (r.TokenType != JsonTokenType.StartArray) throw new TraceFormatException(path, line, key, "a list of integer block hashes", r.TokenType.ToString().ToLowerInvariant());
        var ids = new List<long>();
        while (r.Read() && r.TokenType != JsonTokenType.EndArray)
        {
            if (r.TokenType != JsonTokenType.Number || !r.TryGetInt64(out var v))
                throw new TraceFormatException(path, line, key, "a list of integer block hashes", Encoding.UTF8.GetString(r.ValueSpan));
            ids.Add(v);
        }
        return ids.ToArray();
    }
}
