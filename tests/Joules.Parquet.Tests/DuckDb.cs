using DuckDB.NET.Data;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Xunit;

namespace Joules.Parquet.Tests;

/// <summary>
/// DuckDB (in-process, through DuckDB.NET from NuGet: its own Parquet reader and writer, an implementation independent
/// of ours) reads the files Joules.Parquet wrote or writes files for it to read; the results compare what DuckDB sees with
/// what we read. Nothing to install: the native DuckDB library comes with the DuckDB.NET.Data.Full package.
/// </summary>
internal static class DuckDb
{
    /// <summary>Runs one request: <c>{op: "read", file, values}</c> or <c>{op: "write", file, rows, codec, version, row_group_size}</c> (any object with those properties).</summary>
    public static JsonObject Run(object request)
    {
        var req = JsonSerializer.SerializeToNode(request)!.AsObject();
        var op = (string?)req["op"];
        var file = (string?)req["file"] ?? throw new ArgumentException("a DuckDB request needs a file");
        return op switch
        {
            "read" => ReadFile(file, (bool?)req["values"] ?? true),
            "write" => WriteFile(file, (int?)req["rows"] ?? 1000, (string?)req["codec"], (string?)req["version"], (int?)req["row_group_size"]),
            _ => throw new InvalidOperationException($"unknown DuckDB op '{op}'"),
        };
    }

    /// <summary>Row count, per column the type, non-null count, sum, min, max and (with <paramref name="values"/>) every value as a string (timestamps as epoch units, blobs as hex), plus codecs and encodings from the file's metadata.</summary>
    public static JsonObject Read(string file, bool values = true) => Run(new { op = "read", file, values });

    /// <summary>Writes a deterministic table with DuckDB's own Parquet writer.</summary>
    public static void Write(string file, int rows, string? codec, string? version, int? rowGroupSize) =>
        Run(new { op = "write", file, rows, codec, version, row_group_size = rowGroupSize });

    private static DuckDBConnection Connect()
    {
        var c = new DuckDBConnection("DataSource=:memory:");
        c.Open();
        return c;
    }

    private static List<Dictionary<string, object?>> Rows(DuckDBConnection c, string sql)
    {
        using var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        using var r = cmd.ExecuteReader();
        var result = new List<Dictionary<string, object?>>();
        while (r.Read())
        {
            var row = new Dictionary<string, object?>();
            for (var i = 0; i < r.FieldCount; i++) row[r.GetName(i)] = r.IsDBNull(i) ? null : r.GetValue(i);
            result.Add(row);
        }
        return result;
    }

    private static string Q(string s) => "'" + s.Replace("'", "''") + "'";
    private static string Id(string s) => "\"" + s.Replace("\"", "\"\"") + "\"";

    private static string RenderExpr(string c, string type) =>
        type.StartsWith("TIMESTAMP_NS") ? $"CAST(epoch_ns({c}) AS VARCHAR)"
        : type.StartsWith("TIMESTAMP_MS") ? $"CAST(epoch_ms({c}) AS VARCHAR)"
        : type.StartsWith("TIMESTAMP") ? $"CAST(epoch_us({c}) AS VARCHAR)"
        : type == "BLOB" ? $"hex({c})"
        : $"CAST({c} AS VARCHAR)";

    private static bool Numeric(string type) =>
        System.Text.RegularExpressions.Regex.IsMatch(type, "^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|FLOAT|DOUBLE|DECIMAL)");

    private static string SumExpr(string name, string type)
    {
        var c = Id(name);
        if (type.StartsWith("TIMESTAMP_NS")) return $"CAST(sum(epoch_ns({c})::HUGEINT) AS VARCHAR)";
        if (type.StartsWith("TIMESTAMP_MS")) return $"CAST(sum(epoch_ms({c})::HUGEINT) AS VARCHAR)";
        if (type.StartsWith("TIMESTAMP")) return $"CAST(sum(epoch_us({c})::HUGEINT) AS VARCHAR)";
        if (type == "BOOLEAN") return $"CAST(sum(CAST({c} AS INTEGER)) AS VARCHAR)";
        if (type is "FLOAT" or "DOUBLE") return $"CAST(sum(CAST({c} AS DOUBLE)) AS VARCHAR)";
        if (Numeric(type)) return $"CAST(sum(CAST({c} AS HUGEINT)) AS VARCHAR)";
        if (type == "VARCHAR") return $"CAST(sum(strlen({c})) AS VARCHAR)";
        if (type == "BLOB") return $"CAST(sum(octet_length({c})) AS VARCHAR)";
        return "NULL";
    }

    private static JsonObject ReadFile(string file, bool values)
    {
        using var c = Connect();
        var src = $"read_parquet({Q(file)})";
        var desc = Rows(c, $"DESCRIBE SELECT * FROM {src}");
        var total = Convert.ToInt64(Rows(c, $"SELECT count(*)::BIGINT AS n FROM {src}")[0]["n"], CultureInfo.InvariantCulture);
        var columns = new JsonObject();
        var result = new JsonObject { ["rows"] = total, ["columns"] = columns };
        foreach (var d in desc)
        {
            var name = (string)d["column_name"]!;
            var type = (string)d["column_type"]!;
            if (System.Text.RegularExpressions.Regex.IsMatch(type, @"[\[\]]|^STRUCT|^MAP|^UNION"))
            {
                columns[name] = new JsonObject { ["type"] = type, ["nested"] = true };
                continue;
            }
            var id = Id(name);
            var r = Rows(c, $"SELECT count({id})::BIGINT AS nn, {SumExpr(name, type)} AS s, {RenderExpr($"min({id})", type)} AS mn, {RenderExpr($"max({id})", type)} AS mx FROM {src}")[0];
            var col = new JsonObject
            {
                ["type"] = type,
                ["non_null"] = Convert.ToInt64(r["nn"], CultureInfo.InvariantCulture),
                ["sum"] = (string?)r["s"],
                ["min"] = (string?)r["mn"],
                ["max"] = (string?)r["mx"],
            };
            if (values)
            {
                var all = new JsonArray();
                foreach (var v in Rows(c, $"SELECT {RenderExpr(id, type)} AS v FROM {src}")) all.Add((string?)v["v"]);
                col["values"] = all;
            }
            columns[name] = col;
        }
        var perColumn = new JsonObject();
        var codecs = new List<string>();
        var encodings = new List<string>();
        foreach (var m in Rows(c, $"SELECT path_in_schema AS p, compression AS c, encodings AS e FROM parquet_metadata({Q(file)})"))
        {
            var parts = Convert.ToString(m["e"], CultureInfo.InvariantCulture)!.Split(',', StringSplitOptions.TrimEntries);
            var path = Convert.ToString(m["p"], CultureInfo.InvariantCulture)!;
            var set = perColumn[path] is JsonArray existing ? existing.Select(x => (string)x!).ToList() : [];
            foreach (var e in parts) if (!set.Contains(e)) set.Add(e);
            perColumn[path] = new JsonArray(set.Select(x => (JsonNode?)x).ToArray());
            var codec = Convert.ToString(m["c"], CultureInfo.InvariantCulture)!;
            if (!codecs.Contains(codec)) codecs.Add(codec);
            foreach (var e in parts) if (!encodings.Contains(e)) encodings.Add(e);
        }
        result["column_encodings"] = perColumn;
        result["codecs"] = new JsonArray(codecs.Select(x => (JsonNode?)x).ToArray());
        result["encodings"] = new JsonArray(encodings.Select(x => (JsonNode?)x).ToArray());
        return result;
    }

    private static JsonObject WriteFile(string file, int n, string? codec, string? version, int? rowGroupSize)
    {
        var opts = new List<string> { "FORMAT PARQUET" };
        if (codec is not null) opts.Add($"COMPRESSION {codec}");
        if (version is not null) opts.Add($"PARQUET_VERSION {version}");
        if (rowGroupSize is not null) opts.Add($"ROW_GROUP_SIZE {rowGroupSize}");
        using var c = Connect();
        using var cmd = c.CreateCommand();
        // Deterministic columns covering the types Joules uses: ints, doubles, floats, bools, strings of low and
        // high cardinality, timestamps, and nulls.
        cmd.CommandText = $"""
            COPY (
              SELECT i::BIGINT AS id,
                     (i % 1000)::INTEGER AS small_int,
                     CASE WHEN i % 7 = 0 THEN NULL ELSE (i * 31 % 100003)::INTEGER END AS opt_int,
                     (i * 0.25)::DOUBLE AS dbl,
                     (i % 100)::FLOAT / 8 AS flt,
                     (i % 3 = 0) AS flag,
                     'model-' || (i % 5) AS low_card,
                     CASE WHEN i % 11 = 0 THEN NULL ELSE 'req-' || i || '-' || md5(i::VARCHAR) END AS high_card,
                     TIMESTAMPTZ '2024-01-01 00:00:00+00' + to_microseconds(i * 1234567) AS ts
              FROM range({n}) t(i)
            ) TO {Q(file)} ({string.Join(", ", opts)})
            """;
        cmd.ExecuteNonQuery();
        return new JsonObject { ["ok"] = true };
    }

    /// <summary>Asserts every value of one of our columns equals DuckDB's rendering of the same column.</summary>
    public static void AssertSameValues(ParquetColumn column, IReadOnlyList<ColumnData> ours, JsonObject duckColumn)
    {
        var type = (string)duckColumn["type"]!;
        var values = duckColumn["values"]!.AsArray();
        int row = 0;
        foreach (var part in ours)
        {
            for (int i = 0; i < part.Count; i++, row++)
            {
                var expected = (string?)values[row];
                if (part.IsNull(i))
                {
                    Assert.True(expected == null, $"column '{column.Name}' row {row}: we read null, DuckDB {expected}");
                    continue;
                }
                Assert.True(expected != null, $"column '{column.Name}' row {row}: DuckDB reads null, we read {part.GetValue(i)}");
                if (!Same(column, part, i, expected!, type))
                    Assert.Fail($"column '{column.Name}' ({type}) row {row}: DuckDB {expected}, we read {Render(part.GetValue(i))}");
            }
        }
        Assert.Equal(values.Count, row);
    }

    private static string Render(object? v) => v is byte[] b ? System.Convert.ToHexString(b) : System.Convert.ToString(v, CultureInfo.InvariantCulture) ?? "null";

    private static bool Same(ParquetColumn column, ColumnData data, int i, string expected, string duckType)
    {
        var inv = CultureInfo.InvariantCulture;
        bool unsigned = column.LogicalType is { Kind: LogicalKind.Int, IsSigned: false };
        switch (data)
        {
            case ColumnData<bool> b: return expected == (b[i] ? "true" : "false");
            case ColumnData<int> n:
                if (duckType == "DATE") return DateOnly.FromDayNumber(DateOnly.FromDateTime(DateTime.UnixEpoch).DayNumber + n[i]).ToString("yyyy-MM-dd", inv) == expected;
                if (duckType.StartsWith("DECIMAL")) return true;
                return expected == (unsigned ? ((uint)n[i]).ToString(inv) : n[i].ToString(inv));
            case ColumnData<long> l:
                if (column.TimestampUnit is TimeUnit unit && duckType.StartsWith("TIMESTAMP"))
                {
                    var duckUnit = duckType.StartsWith("TIMESTAMP_NS") ? TimeUnit.Nanos : duckType.StartsWith("TIMESTAMP_MS") ? TimeUnit.Millis : TimeUnit.Micros;
                    return long.Parse(expected, inv) == ConvertUnit(l[i], unit, duckUnit);
                }
                if (duckType.StartsWith("DECIMAL")) return true;
                return expected == (unsigned ? ((ulong)l[i]).ToString(inv) : l[i].ToString(inv));
            case ColumnData<float> f: return SameFloating(f[i], expected);
            case ColumnData<double> d: return SameFloating(d[i], expected);
            case ColumnData<string> s: return s[i] == expected;
            case ColumnData<byte[]> bytes:
                if (duckType.StartsWith("DECIMAL") || duckType == "UUID" || duckType == "FLOAT") return true;
                return duckType == "BLOB" ? System.Convert.ToHexString(bytes[i]) == expected : System.Text.Encoding.UTF8.GetString(bytes[i]) == expected;
            default: return false;
        }
    }

    private static long ConvertUnit(long v, TimeUnit from, TimeUnit to)
    {
        static int Exp(TimeUnit u) => u switch { TimeUnit.Millis => 3, TimeUnit.Micros => 6, _ => 9 };
        int d = Exp(to) - Exp(from);
        long f = 1;
        for (int k = 0; k < Math.Abs(d); k++) f *= 10;
        if (d >= 0) return v * f;
        long q = v / f;
        return v % f < 0 ? q - 1 : q;
    }

    private static bool SameFloating(double ours, string expected)
    {
        var e = expected.ToLowerInvariant();
        if (double.IsNaN(ours)) return e.Contains("nan");
        if (double.IsPositiveInfinity(ours)) return e is "inf" or "infinity";
        if (double.IsNegativeInfinity(ours)) return e is "-inf" or "-infinity";
        return double.Parse(expected, CultureInfo.InvariantCulture) == ours || float.Parse(expected, CultureInfo.InvariantCulture) == (float)ours && !double.IsNaN(ours) && Math.Abs(ours) < float.MaxValue && (float)ours == ours;
    }
}
