using System.IO.Compression;
using System.Text;
using Joules.Parquet;
using Joules.Traces;
using Joules.Traces.Canonical;

namespace Joules.Cli.Tests;

/// <summary>Generated inputs no trace command can use, each with the words its error must contain besides the file's name.</summary>
internal static class BadInputs
{
    public sealed record Case(string Name, string FileName, string Expect, Action<string, string> Make, bool DuplicateIds = false, bool Unsorted = false, string[]? Extra = null);

    private static readonly string AzureHeader = "TIMESTAMP,ContextTokens,GeneratedTokens\n";

    public static readonly Case[] All =
    [
        new("truncated-parquet", "cut.parquet", "truncated", (good, p) => { var b = File.ReadAllBytes(good); File.WriteAllBytes(p, b[..(b.Length * 3 / 5)]); }),
        new("parquet-footer-cut", "nofooter.parquet", "truncated", (good, p) => { var b = File.ReadAllBytes(good); File.WriteAllBytes(p, b[..^10]); }),
        new("random-binary", "noise.parquet", "binary file", (_, p) => { var b = new byte[5000]; new Random(7).NextBytes(b); File.WriteAllBytes(p, b); }),
        new("gzip-csv", "conv.csv.gz", "gzip", (_, p) =>
        {
            using var f = File.Create(p);
            using var z = new GZipStream(f, CompressionLevel.Fastest);
            z.Write(Encoding.UTF8.GetBytes(AzureHeader + "2023-11-16 18:15:46.6805900,374,44\n"));
        }),
        new("empty-file", "empty.csv", "empty", (_, p) => File.WriteAllBytes(p, [])),
        new("whitespace-only", "blank.csv", "white space", (_, p) => File.WriteAllText(p, "  \n\n \t\n")),
        new("folder", "traces-folder", "is a folder", (_, p) => { Directory.CreateDirectory(p); File.WriteAllText(Path.Combine(p, "a.csv"), "x"); }),
        new("missing", "no-such.parquet", "no such file", (_, _) => { }),
        new("header-only-csv", "header.csv", "no requests", (_, p) => File.WriteAllText(p, AzureHeader)),
        new("bad-token", "badtok.csv", "GeneratedTokens", (_, p) => File.WriteAllText(p, AzureHeader + "2023-11-16 18:15:46.68,374,44\n2023-11-16 18:15:47.00,374,many\n")),
        new("negative-token", "neg.csv", "ContextTokens", (_, p) => File.WriteAllText(p, AzureHeader + "2023-11-16 18:15:46.68,-5,44\n")),
        new("bad-time", "badtime.csv", "TIMESTAMP", (_, p) => File.WriteAllText(p, AzureHeader + "2023-11-16 18:15:46.68,374,44\nyesterday,12,3\n")),
        new("truncated-csv-row", "cutrow.csv", "GeneratedTokens", (_, p) => File.WriteAllText(p, AzureHeader + "2023-11-16 18:15:46.68,374,44\n2023-11-16 18:15:47.1,37")),
        new("broken-jsonl", "broken.jsonl", ":2", (_, p) => File.WriteAllText(p, "{\"timestamp\": 0, \"input_length\": 10, \"output_length\": 3}\n{\"timestamp\": 5, \"input_len")),
        new("unknown-layout", "other.csv", "cannot tell the trace layout", (_, p) => File.WriteAllText(p, "a,b,c\n1,2,3\n")),
        new("parquet-not-a-trace", "table.parquet", "no 'arrival_time' column", (_, p) =>
        {
            using var w = new ParquetFileWriter(p, new ParquetSchema(ParquetColumn.Int64("x"), ParquetColumn.Double("y")));
            w.WriteRowGroup(ColumnData.From(new long[] { 1, 2 }), ColumnData.From(new[] { 0.5, 1.5 }));
        }),
        new("duplicate-ids-csv", "dups.csv", "--renumber", (_, p) => File.WriteAllText(p,
            "request_id,arrival_time,input_tokens,output_tokens\n0,2024-01-01T00:00:00Z,10,5\n1,2024-01-01T00:00:01Z,10,5\n1,2024-01-01T00:00:02Z,10,5\n"), DuplicateIds: true),
        new("duplicate-ids-parquet", "dups.parquet", "--renumber", (_, p) => CanonicalTraceWriter.Write(p,
            [new TraceRequest(7, 1_000_000, 10, 5), new TraceRequest(8, 2_000_000, 10, 5), new TraceRequest(7, 3_000_000, 10, 5)]), DuplicateIds: true),
        // The canonical writer refuses unsorted rows, so the file is built with the Parquet library directly.
        new("unsorted-parquet", "unsorted.parquet", "arrives before", (_, p) => TwoCanonicalRows(p, 2_000_000, 1_000_000), Unsorted: true),
        // Two requests on one JSON line: the second was dropped without a word.
        new("two-records-one-line", "two.jsonl", "stops being one at character", (_, p) => File.WriteAllText(p,
            "{\"timestamp\": 0, \"input_length\": 10, \"output_length\": 3}\n{\"timestamp\": 5, \"input_length\": 12, \"output_length\": 4} {\"timestamp\": 6, \"input_length\": 9, \"output_length\": 2}\n")),
        // A field past the header (a shifted row) was dropped silently.
        new("csv-extra-field", "extra.csv", "at most 3 fields", (_, p) => File.WriteAllText(p, AzureHeader + "2023-11-16 18:15:46.68,374,44\n2023-11-16 18:15:47.00,44,5,7\n")),
        // Nanoseconds in a file read as milliseconds: clamped, they made a run of billions of kWh.
        new("timestamp-past-9999", "ns.jsonl", "before the year 10000", (_, p) => File.WriteAllText(p,
            "{\"timestamp\": 0, \"input_length\": 10, \"output_length\": 3}\n{\"timestamp\": 1700000000000000000, \"input_length\": 12, \"output_length\": 4}\n")),
        new("negative-relative-time", "neg.jsonl", "since the trace start, at least 0", (_, p) => File.WriteAllText(p,
            "{\"timestamp\": 0, \"input_length\": 10, \"output_length\": 3}\n{\"timestamp\": -5000, \"input_length\": 12, \"output_length\": 4}\n")),
        new("parquet-arrival-past-9999", "ns.parquet", "between the years 1 and 9999", (_, p) => TwoCanonicalRows(p, 1_000_000, 1_700_000_000_000_000_000)),
        new("all-rows-invalid", "allbad.csv", "all 2 rows were invalid", (_, p) => File.WriteAllText(p, AzureHeader + "x,1,1\ny,2,2\n"), Extra: ["--skip-invalid"]),
    ];

    // Two requests in the canonical Parquet layout at the given arrival times (µs), written without the canonical
    // writer's checks.
    private static void TwoCanonicalRows(string path, long first, long second)
    {
        using var w = new ParquetFileWriter(path, CanonicalTraceWriter.ParquetSchema);
        w.WriteRowGroup(ColumnData.From(new long[] { 0, 1 }), ColumnData.From(new[] { first, second }), ColumnData.From(new[] { 10, 10 }),
            ColumnData.From(new[] { 5, 5 }), ColumnData.From(new string?[] { null, null }), ColumnData.From(new string?[] { null, null }),
            ColumnData.From(new string?[] { null, null }), ColumnData.From(new string?[] { null, null }),
            ColumnData.FromLists(new[] { 0, 0, 0 }, Array.Empty<long>(), validity: new[] { false, false }));
    }

    /// <summary>The trace commands that write, as argument lists with the input and output filled in.</summary>
    public static readonly (string Name, Func<string, string, string, string[]> Args)[] Commands =
    [
        ("import", (input, output, _) => ["trace", "import", input, "-o", output]),
        ("slice", (input, output, _) => ["trace", "slice", input, "--to", "10m", "-o", output]),
        ("sample", (input, output, _) => ["trace", "sample", input, "--fraction", "0.5", "-o", output]),
        ("scale", (input, output, _) => ["trace", "scale", input, "--factor", "2", "-o", output]),
        ("tile", (input, output, _) => ["trace", "tile", input, "--copies", "2", "-o", output]),
        ("merge", (input, output, good) => ["trace", "merge", good, input, "-o", output]),
        ("synth", (input, output, _) => ["trace", "synth", "--like", input, "--duration", "1m", "-o", output]),
    ];

    /// <summary>Every pairing that must fail: duplicate ids are fine where ids are renumbered anyway (tile, merge); import sorts an unsorted file; --skip-invalid belongs to import.</summary>
    public static IEnumerable<object[]> FailingPairs() =>
        from c in All
        from cmd in Commands
        where !(c.DuplicateIds && cmd.Name is "tile" or "merge")
        where !(c.Unsorted && cmd.Name == "import")
        where c.Extra is null || cmd.Name == "import"
        select new object[] { c.Name, cmd.Name };
}
