using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Joules.Parquet;

namespace Joules.Cli.Commands;

/// <summary>`joules parquet bench`: writes and reads a trace-shaped file and reports rows/s and peak memory.</summary>
internal static class ParquetBench
{
    private static readonly string[] Models = ["llama-3.1-8b", "llama-3.1-70b", "mistral-7b", "qwen2.5-7b", "llama-3.2-1b", "llama-3.2-3b"];

    public static Command Create()
    {
        var rows = new Option<long>("--rows") { Description = "Rows to write", DefaultValueFactory = _ => 10_000_000 };
        var codecs = new Option<string>("--codec") { Description = "Comma-separated codecs to benchmark (snappy, zstd, gzip, none, brotli, lz4raw)", DefaultValueFactory = _ => "snappy,zstd" };
        var groupRows = new Option<int>("--row-group-rows") { Description = "Rows per row group", DefaultValueFactory = _ => 1_000_000 };
        var keep = new Option<string?>("--keep") { Description = "Keep the written file at this path (with several codecs, the codec name is added before the extension)" };
        var readOnly = new Option<FileInfo?>("--read-only") { Description = "Only read this existing file (all columns) and report rows/s" };
        var repeat = new Option<int>("--repeat") { Description = "Read passes; the best is reported", DefaultValueFactory = _ => 3 };
        var cmd = new Command("bench", "Benchmark the Parquet writer and reader on a trace-shaped file (timestamp, two int32 token columns, low-cardinality string); the comparison with ParquetSharp (Apache Arrow C++) is src/Joules.Parquet/bench");
        foreach (var o in new Option[] { rows, codecs, groupRows, keep, readOnly, repeat }) cmd.Options.Add(o);
        cmd.SetAction(parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            int passes = Math.Max(1, parse.GetValue(repeat));
            if (parse.GetValue(readOnly) is { } existing)
            {
                if (!existing.Exists) throw new FileNotFoundException($"no such file: {existing.FullName}", existing.FullName);
                var (readRows, seconds) = ReadAll(existing.FullName, passes);
                output.WriteLine($"read {existing.FullName}: {readRows:N0} rows, best of {passes} in {seconds:0.000} s = {readRows / seconds:N0} rows/s; peak working set {PeakMiB():0} MiB");
                return 0;
            }
            long n = parse.GetValue(rows);
            var list = parse.GetValue(codecs)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            output.WriteLine($"{n:N0} rows: arrival_time TIMESTAMP(MICROS, UTC), input_tokens INT32, output_tokens INT32, model STRING ({Models.Length} values); row groups of {parse.GetValue(groupRows):N0}");
            foreach (var name in list)
            {
                var codec = ParseCodec(name);
                var keepPath = parse.GetValue(keep);
                string path = keepPath == null ? Path.Combine(Path.GetTempPath(), $"joules-bench-{Guid.NewGuid():N}.parquet")
                    : list.Length == 1 ? keepPath : Path.ChangeExtension(keepPath, null) + "." + name + Path.GetExtension(keepPath);
                try
                {
                    double writeSeconds = Write(path, n, codec, parse.GetValue(groupRows));
                    long size = new FileInfo(path).Length;
                    var (readRows, readSeconds) = ReadAll(path, passes);
                    if (readRows != n) throw new InvalidOperationException($"read back {readRows} rows, wrote {n}");
                    output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"{name,-7} write {n / writeSeconds,12:N0} rows/s ({writeSeconds:0.00} s)  read {n / readSeconds,12:N0} rows/s ({readSeconds:0.00} s, best of {passes})  file {size / 1048576.0:0.0} MiB  peak working set {PeakMiB():0} MiB"));
                    if (keepPath != null) output.WriteLine($"        kept {path}");
                }
                finally
                {
                    if (keepPath == null) File.Delete(path);
                }
            }
            output.WriteLine($"GC: {GC.CollectionCount(0)} gen0, {GC.CollectionCount(1)} gen1, {GC.CollectionCount(2)} gen2 collections; {GC.GetTotalAllocatedBytes() / 1048576.0:N0} MiB allocated in total");
            return 0;
        });
        return cmd;
    }

    private static double PeakMiB() => Process.GetCurrentProcess().PeakWorkingSet64 / 1048576.0;

    private static ParquetCodec ParseCodec(string name) => name.ToLowerInvariant() switch
    {
        "snappy" => ParquetCodec.Snappy, "zstd" => ParquetCodec.Zstd, "gzip" => ParquetCodec.Gzip, "none" or "uncompressed" => ParquetCodec.None,
        "brotli" => ParquetCodec.Brotli, "lz4raw" or "lz4_raw" => ParquetCodec.Lz4Raw,
        _ => throw new ArgumentException($"unknown codec '{name}' (snappy, zstd, gzip, none, brotli, lz4raw)"),
    };

    /// <summary>Generates rows in row-group-sized batches (buffers reused) and times only the writer.</summary>
    private static double Write(string path, long rows, ParquetCodec codec, int groupRows)
    {
        var schema = new ParquetSchema(
            ParquetColumn.Timestamp("arrival_time", TimeUnit.Micros, utc: true),
            ParquetColumn.Int32("input_tokens"),
            ParquetColumn.Int32("output_tokens"),
            ParquetColumn.String("model"));
        var ts = new long[groupRows];
        var input = new int[groupRows];
        var output = new int[groupRows];
        var model = new string[groupRows];
        var rng = new Random(42);
        long t = 1_704_067_200_000_000;
        var sw = new Stopwatch();
        using (var writer = new ParquetFileWriter(path, schema, new ParquetWriteOptions { Codec = codec, RowGroupRows = groupRows }))
        {
            for (long done = 0; done < rows;)
            {
                int n = (int)Math.Min(groupRows, rows - done);
                for (int i = 0; i < n; i++)
                {
                    t += rng.Next(0, 20_000);
                    ts[i] = t;
                    input[i] = 16 + (int)(rng.NextDouble() * rng.NextDouble() * 8000);
                    output[i] = 1 + rng.Next(0, 1024);
                    model[i] = Models[Math.Min(Models.Length - 1, (int)(-Math.Log(1 - rng.NextDouble()) * 1.5))];
                }
                sw.Start();
                writer.WriteRowGroup(ColumnData.From(ts, null, n), ColumnData.From(input, null, n), ColumnData.From(output, null, n), ColumnData.From(model, null, n));
                sw.Stop();
                done += n;
            }
            sw.Start();
        }
        sw.Stop();
        return sw.Elapsed.TotalSeconds;
    }

    /// <summary>Reads every column of every row group, touching each value so nothing is optimised away; returns the best pass.</summary>
    private static (long Rows, double Seconds) ReadAll(string path, int passes)
    {
        double best = double.MaxValue;
        long rows = 0;
        for (int p = 0; p < passes; p++)
        {
            var sw = Stopwatch.StartNew();
            long checksum = 0;
            rows = 0;
            using (var reader = ParquetFileReader.Open(path))
            {
                var names = reader.ReadableColumns;
                // Streaming, as trace readers do: each row group decodes into the previous one's arrays.
                RowGroupData? group = null;
                for (int g = 0; g < reader.RowGroupCount; g++)
                {
                    group = reader.ReadRowGroup(g, names, group);
                    foreach (var c in group.Columns)
                    {
                        switch (c)
                        {
                            case ColumnData<long> l: foreach (var v in l.Span) checksum += v; break;
                            case ColumnData<int> i: foreach (var v in i.Span) checksum += v; break;
                            case ColumnData<double> d: foreach (var v in d.Span) checksum += (long)v; break;
                            case ColumnData<string> s: foreach (var v in s.Span) checksum += v?.Length ?? 0; break;
                        }
                    }
                    rows += group.RowCount;
                }
            }
            sw.Stop();
            GC.KeepAlive(checksum);
            best = Math.Min(best, sw.Elapsed.TotalSeconds);
        }
        return (rows, best);
    }
}
