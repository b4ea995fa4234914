using Xunit;
using PS = ParquetSharp;

namespace Joules.Parquet.Tests;

/// <summary>LIST columns both ways with DuckDB (in process) and Apache Arrow C++, plus the parquet-testing list fixture, value for value.</summary>
public class ListInteropTests
{
    private static readonly ListSpec Edges = new(Rows: 20_000, Seed: 7, NullListPercent: 5, EmptyPercent: 10, NullElementPercent: 3, MaxLength: 40, LongListEvery: 2000);

    /// <summary>Our rows as JSON, as <see cref="DuckDbNet.JsonRows"/> gives DuckDB's.</summary>
    private static List<string[]> OurRows(ParquetFileReader r)
    {
        var rows = new List<string[]>();
        foreach (var g in r.ReadRowGroups())
            for (int i = 0; i < g.RowCount; i++)
                rows.Add(g.Columns.Select(c => DuckDbNet.Json(c, i)).ToArray());
        return rows;
    }

    private static void AssertSame(List<string[]> duck, List<string[]> ours, string what)
    {
        Assert.Equal(duck.Count, ours.Count);
        for (int i = 0; i < duck.Count; i++)
            for (int c = 0; c < duck[i].Length; c++)
                if (!DuckDbNet.SameJson(duck[i][c], ours[i][c])) Assert.Fail($"{what}: row {i} column {c}: DuckDB reads {duck[i][c]}, we read {ours[i][c]}");
    }

    [Theory]
    [InlineData(ParquetCodec.Snappy, true)]
    [InlineData(ParquetCodec.Zstd, true)]
    [InlineData(ParquetCodec.None, false)]
    [InlineData(ParquetCodec.Gzip, false)]
    [InlineData(ParquetCodec.Lz4Raw, true)]
    public void DuckDbReadsOurLists(ParquetCodec codec, bool dictionary)
    {
        var path = TestPaths.TempFile();
        try
        {
            var data = ListSamples.Make(Edges);
            using (var w = new ParquetFileWriter(path, ListSamples.Schema, new ParquetWriteOptions { Codec = codec, Dictionary = dictionary, RowGroupRows = 7_000, DataPageBytes = 16 << 10 }))
                w.WriteRowGroup(data);
            var types = DuckDbNet.Rows($"SELECT column_type FROM (DESCRIBE SELECT * FROM read_parquet({DuckDbNet.Quote(path)}))").Select(r => r[0]).ToArray();
            Assert.Equal(["BIGINT", "BIGINT[]", "INTEGER[]", "VARCHAR[]"], types);
            var duck = DuckDbNet.JsonRows(path); // DuckDB reads in file order
            using var r = ParquetFileReader.Open(path);
            AssertSame(duck, OurRows(r), $"{codec} dictionary={dictionary}");
            // And what DuckDB sees is what we meant to write, not only what we read back.
            var expected = Enumerable.Range(0, data[0].Count).Select(i => data.Select(c => DuckDbNet.Json(c, i)).ToArray()).ToList();
            AssertSame(duck, expected, "written data");
        }
        finally { File.Delete(path); }
    }

    [Theory]
    [InlineData("snappy", "V1", 10_000)]
    [InlineData("zstd", "V2", 4_000)]
    [InlineData("uncompressed", "V2", 100_000)]
    [InlineData("gzip", "V1", 2_048)]
    public void WeReadDuckDbLists(string codec, string version, int rowGroupSize)
    {
        var path = TestPaths.TempFile();
        try
        {
            // Null lists, empty lists, null elements, one 200,000-element list, dictionary-friendly and unique strings.
            DuckDbNet.Execute($@"COPY (SELECT i AS id,
                    CASE WHEN i % 17 = 0 THEN NULL WHEN i % 13 = 0 THEN [] WHEN i = 777 THEN range(200000)
                         ELSE list_transform(range(i % 23), x -> i * 1000 + x) END AS hash_ids,
                    list_transform(range(i % 4), x -> CASE WHEN (i + x) % 9 = 0 THEN NULL ELSE CAST((i * x) % 70000 AS INTEGER) END) AS tokens,
                    CASE WHEN i % 11 = 0 THEN NULL ELSE list_transform(range(i % 5), x -> CASE WHEN x = 2 THEN NULL WHEN x = 3 THEN 'unique-' || i ELSE 'tag-' || ((i + x) % 50) END) END AS tags
                FROM range(30000) t(i))
                TO {DuckDbNet.Quote(path)} (FORMAT parquet, COMPRESSION {codec}, ROW_GROUP_SIZE {rowGroupSize}, PARQUET_VERSION {version})");
            using var r = ParquetFileReader.Open(path);
            Assert.True(r.Schema["hash_ids"].IsList && r.Schema["hash_ids"].IsOptional);
            Assert.Equal(PhysicalType.Int32, r.Schema["tokens"].Element!.PhysicalType);
            Assert.True(r.Schema["tags"].Element!.IsText);
            var duck = DuckDbNet.JsonRows(path);
            AssertSame(duck, OurRows(r), $"DuckDB {codec} {version} row groups of {rowGroupSize}");
            Assert.Equal(200_000, r.ReadRowGroups(["hash_ids"]).Max(g => { var l = g.GetList<long>("hash_ids"); return Enumerable.Range(0, g.RowCount).Max(l.LengthOf); }));
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void ListFixtureReadsLikeDuckDb()
    {
        // datapage_v2.snappy.parquet's column e is the only list among the shared parquet-testing fixtures.
        var path = TestPaths.Fixture("datapage_v2.snappy.parquet");
        using var r = ParquetFileReader.Open(path);
        var duck = DuckDbNet.JsonRows(path, columns: "'e'");
        var ours = OurRows(r).Select(row => new[] { row[4] }).ToList();
        Assert.Equal(["[1,2,3]", "null", "null", "[1,2,3]", "[1,2]"], duck.Select(d => d[0].Replace(" ", "")));
        AssertSame(duck, ours, "datapage_v2 e");
    }

    [Fact]
    public void ArrowDictionaryEncodedNumbersReadExactly()
    {
        // Arrow writes nullable INT64 and DOUBLE with a dictionary until it passes its page limit, then PLAIN pages in the same chunk.
        var path = TestPaths.TempFile();
        try
        {
            const int n = 60_000;
            var rng = new Random(3);
            var ids = Enumerable.Range(0, n).Select(i => i % 97 == 0 ? (long?)null : i < 30_000 ? rng.Next(500) * 1_000_000_007L : rng.NextInt64()).ToArray();
            var prices = Enumerable.Range(0, n).Select(i => i % 89 == 0 ? (double?)null : i % 3 == 0 ? -0.0 : Math.Round(rng.Next(2000) * 0.37, 2)).ToArray();
            using (var props = new PS.WriterPropertiesBuilder().Compression(PS.Compression.Snappy).DictionaryPagesizeLimit(64 << 10).DataPagesize(8 << 10).Build())
            using (var file = new PS.ParquetFileWriter(path, [new PS.Column<long?>("id"), new PS.Column<double?>("price")], props))
            {
                for (int start = 0; start < n; start += 25_000)
                {
                    int m = Math.Min(25_000, n - start);
                    using var rg = file.AppendRowGroup();
                    using (var w = rg.NextColumn().LogicalWriter<long?>()) w.WriteBatch(ids, start, m);
                    using (var w = rg.NextColumn().LogicalWriter<double?>()) w.WriteBatch(prices, start, m);
                }
                file.Close();
            }
            using var r = ParquetFileReader.Open(path);
            var allIds = new long[n]; var idValid = new bool[n];
            var allPrices = new double[n]; var priceValid = new bool[n];
            int row = 0;
            for (int g = 0; g < r.RowGroupCount; g++)
            {
                r.ReadColumn<long>(g, "id", allIds.AsSpan(row), idValid.AsSpan(row));
                r.ReadColumn<double>(g, "price", allPrices.AsSpan(row), priceValid.AsSpan(row));
                row += r.RowGroupRowCount(g);
            }
            for (int i = 0; i < n; i++)
            {
                Assert.True(ids[i].HasValue == idValid[i] && (!idValid[i] || ids[i] == allIds[i]), $"id row {i}: Arrow wrote {ids[i]}, we read {(idValid[i] ? allIds[i] : "null")}");
                Assert.True(prices[i].HasValue == priceValid[i] && (!priceValid[i] || BitConverter.DoubleToInt64Bits(prices[i]!.Value) == BitConverter.DoubleToInt64Bits(allPrices[i])),
                    $"price row {i}: Arrow wrote {prices[i]}, we read {allPrices[i]}");
            }
        }
        finally { File.Delete(path); }
    }
}
