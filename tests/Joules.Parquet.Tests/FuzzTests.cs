using Xunit;
using Xunit.Abstractions;

namespace Joules.Parquet.Tests;

public class FuzzTests(ITestOutputHelper output)
{
    // JOULES_FUZZ_CASES raises the count for a longer local run; CI keeps it bounded.
    private static int Cases => int.TryParse(Environment.GetEnvironmentVariable("JOULES_FUZZ_CASES"), out var c) ? c : 2000;

    private void Fuzz(IReadOnlyList<string> seeds, int seed)
    {
        var report = new ParquetFuzzer(seeds).Run(Cases, seed, TimeSpan.FromSeconds(10));
        output.WriteLine($"{report.Cases} cases: {report.Read} read, {report.Rejected} rejected, {report.Failures.Count} failures in {report.Elapsed}");
        foreach (var f in report.Failures.Take(20)) output.WriteLine(f);
        Assert.True(report.Failures.Count == 0, string.Join("\n\n", report.Failures.Take(5)));
        Assert.True(report.Rejected > 0 && report.Read > 0);
    }

    [Fact]
    public void MutatedFixturesFailOnlyWithParquetFormatException() =>
        Fuzz(Directory.GetFiles(TestPaths.Fixtures, "*.parquet").Where(f => new FileInfo(f).Length < 200_000).ToList(), 12345);

    [Fact]
    public void MutatedListFilesFailOnlyWithParquetFormatException()
    {
        // Seeds with list columns from three writers: ours (dictionary and PLAIN), DuckDB (v1 and v2 pages) and Arrow C++ (v1, v2, delta).
        var dir = Path.Combine(Path.GetTempPath(), $"joules-fuzz-lists-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        try
        {
            var data = ListSamples.Make(new ListSpec(Rows: 300, Seed: 11, NullListPercent: 10, EmptyPercent: 10, NullElementPercent: 10, MaxLength: 6, LongListEvery: 0));
            foreach (var (codec, dict) in new[] { (ParquetCodec.Snappy, true), (ParquetCodec.None, false), (ParquetCodec.Zstd, true) })
                using (var w = new ParquetFileWriter(Path.Combine(dir, $"ours-{codec}-{dict}.parquet"), ListSamples.Schema,
                           new ParquetWriteOptions { Codec = codec, Dictionary = dict, RowGroupRows = 120, DataPageBytes = 1024 }))
                    w.WriteRowGroup(data);
            foreach (var version in new[] { "V1", "V2" })
                DuckDbNet.Execute($@"COPY (SELECT i AS id, CASE WHEN i % 7 = 0 THEN NULL ELSE list_transform(range(i % 5), x -> CASE WHEN x = 3 THEN NULL ELSE i * 10 + x END) END AS l,
                    list_transform(range(i % 3), x -> 's' || (i % 9)) AS s FROM range(300) t(i))
                    TO {DuckDbNet.Quote(Path.Combine(dir, $"duckdb-{version}.parquet"))} (FORMAT parquet, ROW_GROUP_SIZE 128, PARQUET_VERSION {version})");
            Arrow.WriteLists(Path.Combine(dir, "arrow-v1.parquet"), data, ParquetSharp.Compression.Snappy, "dictionary", v2: false, 150);
            Arrow.WriteLists(Path.Combine(dir, "arrow-v2-delta.parquet"), data, ParquetSharp.Compression.Uncompressed, "delta", v2: true, 150);
            var seeds = Directory.GetFiles(dir, "*.parquet");
            foreach (var s in seeds) ParquetFuzzer.ReadEverything(File.ReadAllBytes(s), s); // every seed reads cleanly before it is mutated
            Fuzz(seeds, 54321);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
