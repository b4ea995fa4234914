using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Xunit;

namespace Joules.Parquet.Tests;

/// <summary>Runs tests/interop/duck.mjs (DuckDB through node) and compares what it sees with what Joules.Parquet reads or wrote.</summary>
internal static class DuckDb
{
    private static string InteropDir => Path.Combine(TestPaths.RepoRoot, "tests", "interop");

    public static JsonObject Run(object request)
    {
        var script = Path.Combine(InteropDir, "duck.mjs");
        if (!Directory.Exists(Path.Combine(InteropDir, "node_modules", "@duckdb", "node-api")))
            throw new InvalidOperationException($"DuckDB for node is not installed: run 'npm ci' in {InteropDir} (CI's .ci/run does this)");
        var psi = new ProcessStartInfo("node") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = InteropDir };
        psi.ArgumentList.Add(script);
        psi.ArgumentList.Add(JsonSerializer.Serialize(request));
        Process p;
        try { p = Process.Start(psi) ?? throw new InvalidOperationException("could not start node"); }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException("node is not installed or not on PATH; the DuckDB interop tests need it", e);
        }
        using (p)
        {
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEndAsync();
            if (!p.WaitForExit(180_000)) { p.Kill(true); throw new TimeoutException("duck.mjs took over 180 s"); }
            var text = stdout.Result;
            var json = text.Length > 0 ? JsonNode.Parse(text) as JsonObject : null;
            if (json == null || json["error"] != null || p.ExitCode != 0)
                throw new InvalidOperationException($"duck.mjs failed (exit {p.ExitCode}): {json?["error"]} {stderr.Result}");
            return json;
        }
    }

    public static JsonObject Read(string file, bool values = true) => Run(new { op = "read", file, values });

    public static void Write(string file, int rows, string? codec, string? version, int? rowGroupSize) =>
        Run(new { op = "write", file, rows, codec, version, row_group_size = rowGroupSize });

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
