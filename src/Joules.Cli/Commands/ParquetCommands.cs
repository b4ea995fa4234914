using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Joules.Parquet;

namespace Joules.Cli.Commands;

/// <summary>The `joules parquet` command group: schema, head, stats, bench and fuzz.</summary>
public static class ParquetCommands
{
    public static Command Create()
    {
        var cmd = new Command("parquet", "Inspect Parquet files: schema, first rows, column statistics; benchmark and fuzz the reader");
        cmd.Subcommands.Add(Schema());
        cmd.Subcommands.Add(Head());
        cmd.Subcommands.Add(Stats());
        cmd.Subcommands.Add(ParquetBench.Create());
        cmd.Subcommands.Add(Fuzz());
        return cmd;
    }

    private static Argument<FileInfo> FileArgument() => new("file") { Description = "The Parquet file" };

    /// <summary>Opens a file for inspection; a folder or a missing file is said to be one, in words.</summary>
    private static ParquetFileReader OpenReader(FileInfo file)
    {
        if (Directory.Exists(file.FullName)) throw new IOException($"{file.FullName} is a folder, not a Parquet file; give one file");
        if (!file.Exists) throw new FileNotFoundException($"{file.FullName}: no such file", file.FullName);
        return ParquetFileReader.Open(file.FullName);
    }

    private static Command Schema()
    {
        var file = FileArgument();
        var cmd = new Command("schema", "Print a file's columns (physical and logical types, nullability), row groups and key/value metadata");
        cmd.Arguments.Add(file);
        cmd.SetAction(parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            using var reader = OpenReader(parse.GetValue(file)!);
            output.WriteLine($"{reader.Name}: {reader.RowCount} rows in {reader.RowGroupCount} row groups" + (reader.CreatedBy != null ? $", created by {reader.CreatedBy}" : ""));
            var rows = reader.Schema.Select(c => new[]
            {
                c.Name, (c.IsList ? "LIST<" : "") + ParquetColumn.PhysicalTypeName(c.PhysicalType) + (c.PhysicalType == PhysicalType.FixedLenByteArray ? $"({c.TypeLength})" : "") + (c.IsList ? ">" : ""),
                c.LogicalType?.ToString() ?? "", (c.IsOptional ? "optional" : "required") + (c.Element is { IsOptional: true } ? ", optional elements" : ""),
                c.NotSupportedReason != null ? "not supported: nested" : "",
            });
            TextTable.Write(output, ["column", "physical", "logical", "repetition", "note"], rows);
            if (reader.Metadata.Count > 0)
            {
                output.WriteLine("metadata:");
                foreach (var kv in reader.Metadata) output.WriteLine($"  {kv.Key} = {Shorten(kv.Value ?? "(null)", 200)}");
            }
            return 0;
        });
        return cmd;
    }

    private static Command Head()
    {
        var file = FileArgument();
        var count = CliOptions.Whole("--rows", "Number of rows to show", "a whole number of rows, zero or more", v => v >= 0, 10, "-n");
        var cmd = new Command("head", "Print the first rows of a file");
        cmd.Arguments.Add(file);
        cmd.Options.Add(count);
        cmd.SetAction(parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            int n = parse.GetValue(count);
            if (n < 0) throw new ArgumentException("--rows must be zero or more");
            using var reader = OpenReader(parse.GetValue(file)!);
            var columns = reader.ReadableColumns;
            var table = new List<string[]>();
            for (int g = 0; g < reader.RowGroupCount && table.Count < n; g++)
            {
                var group = reader.ReadRowGroup(g, columns);
                for (int i = 0; i < group.RowCount && table.Count < n; i++)
                    table.Add(group.Columns.Select((c, k) => Shorten(Format(group.Schema[k], c, i), 60)).ToArray());
            }
            TextTable.Write(output, columns.ToArray(), table);
            var skipped = reader.Schema.Where(c => c.NotSupportedReason != null).Select(c => c.Name).ToList();
            if (skipped.Count > 0) output.WriteLine($"(not shown, nested: {string.Join(", ", skipped)})");
            output.WriteLine($"({Math.Min(n, reader.RowCount)} of {reader.RowCount} rows)");
            return 0;
        });
        return cmd;
    }

    private static Command Stats()
    {
        var file = FileArgument();
        var json = new Option<bool>("--json") { Description = "Print JSON: {\"rows\": N, \"columns\": {name: {non_null, sum, min, max, ...}}}" };
        var cmd = new Command("stats", "Per column: physical and logical type, rows, non-null count, min, max and (numeric columns) sum, computed by reading every row group");
        cmd.Arguments.Add(file);
        cmd.Options.Add(json);
        cmd.SetAction(parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            using var reader = OpenReader(parse.GetValue(file)!);
            var stats = ColumnStatistics.Compute(reader);
            if (parse.GetValue(json))
            {
                using var ms = new MemoryStream();
                using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
                {
                    w.WriteStartObject();
                    w.WriteNumber("rows", reader.RowCount);
                    w.WriteStartObject("columns");
                    foreach (var s in stats) s.WriteJson(w);
                    w.WriteEndObject();
                    w.WriteEndObject();
                }
                output.WriteLine(System.Text.Encoding.UTF8.GetString(ms.ToArray()));
            }
            else
            {
                output.WriteLine($"{reader.Name}: {reader.RowCount} rows");
                TextTable.Write(output, ["column", "physical", "logical", "rows", "non-null", "min", "max", "sum"],
                    stats.Select(s => new[] { s.Column.Name, ParquetColumn.PhysicalTypeName(s.Column.PhysicalType), s.Column.LogicalType?.ToString() ?? "",
                        reader.RowCount.ToString(CultureInfo.InvariantCulture), s.NotSupported ? "n/a" : s.NonNull.ToString(CultureInfo.InvariantCulture),
                        Shorten(s.MinText ?? "", 40), Shorten(s.MaxText ?? "", 40), s.SumText ?? "" }));
            }
            return 0;
        });
        return cmd;
    }

    private static Command Fuzz()
    {
        var cases = CliOptions.Whole("--cases", "Number of mutated files to read", "a whole number of cases, at least 1", v => v >= 1, 100_000);
        var seed = CliOptions.OptionalWhole("--seed", "Random seed (default: the clock)", "a whole number");
        var dir = new Option<DirectoryInfo?>("--seeds") { Description = "Folder of seed .parquet files (default: ../shared/fixtures/parquet-testing)" };
        var cmd = new Command("fuzz", "Mutate seed files and check the reader only ever fails with a clear Parquet format error, and never hangs");
        cmd.Options.Add(cases);
        cmd.Options.Add(seed);
        cmd.Options.Add(dir);
        cmd.SetAction(parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            var folder = parse.GetValue(dir)?.FullName ?? FindFixtures()
                ?? throw new DirectoryNotFoundException("no seed folder given and ../shared/fixtures/parquet-testing not found; pass --seeds DIR");
            var files = Directory.GetFiles(folder, "*.parquet");
            var s = parse.GetValue(seed) ?? Environment.TickCount;
            output.WriteLine($"fuzzing {files.Length} seed files, {parse.GetValue(cases)} cases, seed {s}");
            var report = new ParquetFuzzer(files).Run(parse.GetValue(cases), s, TimeSpan.FromSeconds(10));
            output.WriteLine($"{report.Cases} cases in {report.Elapsed.TotalSeconds:0.0} s: {report.Read} read, {report.Rejected} rejected with ParquetFormatException, {report.Failures.Count} failures");
            foreach (var f in report.Failures.Take(20)) output.WriteLine(f);
            return report.Failures.Count == 0 ? 0 : 1;
        });
        return cmd;
    }

    private static string? FindFixtures()
    {
        foreach (var start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
        {
            for (var d = new DirectoryInfo(start); d != null; d = d.Parent)
            {
                var candidate = Path.Combine(d.FullName, "..", "shared", "fixtures", "parquet-testing");
                if (File.Exists(Path.Combine(d.FullName, "Simulator.sln")) && Directory.Exists(candidate)) return Path.GetFullPath(candidate);
            }
        }
        return null;
    }

    internal static string Format(ParquetColumn column, ColumnData data, int row)
    {
        if (data.IsNull(row)) return "null";
        if (data is IListColumnData list && column.Element is { } element)
        {
            int start = list.Offsets[row], end = list.Offsets[row + 1];
            return "[" + string.Join(", ", Enumerable.Range(start, end - start).Select(k => Format(element, list.Elements, k))) + "]";
        }
        var inv = CultureInfo.InvariantCulture;
        return data switch
        {
            ColumnData<long> l when column.TimestampUnit is TimeUnit u => FormatTimestamp(l[row], u),
            ColumnData<int> d when column.LogicalType?.Kind == LogicalKind.Date => DateOnly.FromDayNumber(DateOnly.FromDateTime(DateTime.UnixEpoch).DayNumber + d[row]).ToString("yyyy-MM-dd", inv),
            ColumnData<int> i when column.LogicalType is { Kind: LogicalKind.Int, IsSigned: false } => ((uint)i[row]).ToString(inv),
            ColumnData<long> i when column.LogicalType is { Kind: LogicalKind.Int, IsSigned: false } => ((ulong)i[row]).ToString(inv),
            ColumnData<byte[]> b => "0x" + Convert.ToHexString(b[row]),
            ColumnData<double> d => d[row].ToString("R", inv),
            ColumnData<float> f => f[row].ToString("R", inv),
            ColumnData<bool> b => b[row] ? "true" : "false",
            _ => Convert.ToString(data.GetValue(row), inv) ?? "",
        };
    }

    internal static string FormatTimestamp(long value, TimeUnit unit)
    {
        try { return ParquetTimestamp.ToDateTime(value, unit).ToString("yyyy-MM-ddTHH:mm:ss.FFFFFFFZ", CultureInfo.InvariantCulture); }
        catch (ArgumentOutOfRangeException) { return value.ToString(CultureInfo.InvariantCulture) + " (" + unit.ToString().ToLowerInvariant() + ", out of DateTime range)"; }
    }

    private static string Shorten(string s, int max) => s.Length <= max ? s : s[..(max - 1)] + "…";
}

/// <summary>Plain-text aligned tables, so command output reads the same in a terminal, a pipe and a test.</summary>
internal static class TextTable
{
    public static void Write(TextWriter output, string[] header, IEnumerable<string[]> rows)
    {
        var all = new List<string[]> { header };
        all.AddRange(rows);
        var widths = new int[header.Length];
        foreach (var r in all) for (int i = 0; i < r.Length && i < widths.Length; i++) widths[i] = Math.Max(widths[i], r[i].Length);
        for (int k = 0; k < all.Count; k++)
        {
            var r = all[k];
            output.WriteLine(string.Join("  ", r.Select((c, i) => c.PadRight(widths[i]))).TrimEnd());
            if (k == 0) output.WriteLine(string.Join("  ", widths.Select(w => new string('-', w))));
        }
    }
}
