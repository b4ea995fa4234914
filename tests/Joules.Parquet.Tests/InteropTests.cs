using System.Globalization;
using System.Text.Json.Nodes;
using Xunit;

namespace Joules.Parquet.Tests;

/// <summary>DuckDB (an outside implementation) reads what we write, and we read what DuckDB writes, value for value.</summary>
public class InteropTests
{
    private static ParquetSchema WideSchema() => new(
        ParquetColumn.Int64("id"),
        ParquetColumn.Int32("tokens"),
        ParquetColumn.Int32("opt_int", optional: true),
        ParquetColumn.Double("dbl"),
        ParquetColumn.Float("flt"),
        ParquetColumn.Boolean("flag"),
        ParquetColumn.Boolean("opt_flag", optional: true),
        ParquetColumn.String("low_card"),
        ParquetColumn.String("high_card", optional: true),
        ParquetColumn.Timestamp("ts_us", TimeUnit.Micros, utc: true),
        ParquetColumn.Timestamp("ts_ms", TimeUnit.Millis, utc: true),
        ParquetColumn.Timestamp("ts_ns", TimeUnit.Nanos, utc: true, optional: true));

    private static ColumnData[] WideData(int n)
    {
        var id = new long[n]; var tokens = new int[n]; var optInt = new int[n]; var optIntValid = new bool[n];
        var dbl = new double[n]; var flt = new float[n]; var flag = new bool[n]; var optFlag = new bool[n]; var optFlagValid = new bool[n];
        var low = new string[n]; var high = new string?[n]; var us = new long[n]; var ms = new long[n]; var ns = new long[n]; var nsValid = new bool[n];
        for (int i = 0; i < n; i++)
        {
            id[i] = i * 1_000_003L - 5_000_000;
            tokens[i] = (i * 37) % 4096;
            optInt[i] = i * 13 - 777; optIntValid[i] = i % 5 != 0;
            dbl[i] = Math.Sin(i) * 1e6;
            flt[i] = (float)(i % 1000) / 7f;
            flag[i] = i % 3 == 1;
            optFlag[i] = i % 2 == 0; optFlagValid[i] = i % 9 != 0;
            low[i] = "model-" + (i % 6);
            // Unique ~40-byte strings overflow the 1 MiB dictionary limit: the plain fallback path.
            high[i] = i % 13 == 0 ? null : $"request-{i:D8}-{(uint)(i * 2654435761u):x8}-ünïcødé-{new string((char)('a' + i % 26), 40)}";
            us[i] = 1_704_067_200_000_000L + i * 1_234_567L;
            ms[i] = 1_704_067_200_000L + i * 1_000L;
            ns[i] = 1_704_067_200_000_000_000L + i * 999L; nsValid[i] = i % 4 != 3;
        }
        return [ColumnData.From(id), ColumnData.From(tokens), ColumnData.From(optInt, optIntValid), ColumnData.From(dbl), ColumnData.From(flt),
            ColumnData.From(flag), ColumnData.From(optFlag, optFlagValid), ColumnData.From(low), ColumnData.From(high), ColumnData.From(us),
            ColumnData.From(ms), ColumnData.From(ns, nsValid)];
    }

    [Theory]
    [InlineData(ParquetCodec.Snappy, "SNAPPY")]
    [InlineData(ParquetCodec.Zstd, "ZSTD")]
    [InlineData(ParquetCodec.Gzip, "GZIP")]
    [InlineData(ParquetCodec.None, "UNCOMPRESSED")]
    [InlineData(ParquetCodec.Brotli, "BROTLI")]
    [InlineData(ParquetCodec.Lz4Raw, "LZ4_RAW")]
    public void DuckDbReadsWhatWeWrite(ParquetCodec codec, string duckCodec)
    {
        var path = TestPaths.TempFile();
        try
        {
            const int n = 30_000;
            var data = WideData(n);
            var schema = WideSchema();
            using (var w = new ParquetFileWriter(path, schema, new ParquetWriteOptions { Codec = codec, RowGroupRows = 15_000 }))
                w.WriteRowGroup(data);

            var duck = DuckDb.Read(path);
            Assert.Equal(n, (long)duck["rows"]!);
            Assert.Contains(duckCodec, duck["codecs"]!.AsArray().Select(c => (string)c!));
            var encodings = duck["encodings"]!.AsArray().Select(c => (string)c!).ToList();
            Assert.Contains("RLE_DICTIONARY", encodings);
            Assert.Contains("PLAIN", encodings);
            // Low-cardinality strings use the dictionary; unique long strings overflow it and fall back to PLAIN.
            var perColumn = duck["column_encodings"]!.AsObject();
            Assert.Contains("RLE_DICTIONARY", perColumn["low_card"]!.AsArray().Select(e => (string)e!));
            Assert.DoesNotContain("RLE_DICTIONARY", perColumn["high_card"]!.AsArray().Select(e => (string)e!));
            var columns = duck["columns"]!.AsObject();
            Assert.Equal("BIGINT", (string)columns["id"]!["type"]!);
            Assert.Equal("INTEGER", (string)columns["tokens"]!["type"]!);
            Assert.Equal("DOUBLE", (string)columns["dbl"]!["type"]!);
            Assert.Equal("FLOAT", (string)columns["flt"]!["type"]!);
            Assert.Equal("BOOLEAN", (string)columns["flag"]!["type"]!);
            Assert.Equal("VARCHAR", (string)columns["high_card"]!["type"]!);
            Assert.Equal("TIMESTAMP WITH TIME ZONE", (string)columns["ts_us"]!["type"]!);
            for (int c = 0; c < schema.Count; c++)
            {
                var col = columns[schema[c].Name]!.AsObject();
                Assert.Equal(n - data[c].NullCount, (long)col["non_null"]!);
                DuckDb.AssertSameValues(schema[c], [data[c]], col);
            }
            Assert.Equal(((long[])((ColumnData<long>)data[0]).Values).Sum().ToString(CultureInfo.InvariantCulture), (string)columns["id"]!["sum"]!);
            Assert.Equal(((ColumnData<int>)data[1]).Values.Sum(x => (long)x).ToString(CultureInfo.InvariantCulture), (string)columns["tokens"]!["sum"]!);
        }
        finally { File.Delete(path); }
    }

    [Theory]
    [InlineData(null, null)]
    [InlineData("uncompressed", null)]
    [InlineData("snappy", null)]
    [InlineData("zstd", null)]
    [InlineData("gzip", null)]
    [InlineData("brotli", null)]
    [InlineData("lz4_raw", null)]
    [InlineData(null, "v2")]
    [InlineData("zstd", "v2")]
    [InlineData("snappy", "v2")]
    [InlineData("uncompressed", "v2")]
    public void WeReadWhatDuckDbWrites(string? codec, string? version)
    {
        var path = TestPaths.TempFile();
        try
        {
            DuckDb.Write(path, 30_000, codec, version, 10_000);
            var duck = DuckDb.Read(path);
            using var r = ParquetFileReader.Open(path);
            Assert.Equal((long)duck["rows"]!, r.RowCount);
            var groups = r.ReadRowGroups().ToList();
            Assert.True(groups.Count >= 2, "expected several row groups");
            var columns = duck["columns"]!.AsObject();
            Assert.Equal(columns.Count, r.Schema.Count);
            for (int c = 0; c < r.Schema.Count; c++)
            {
                var col = columns[r.Schema[c].Name]!.AsObject();
                var parts = groups.Select(g => g.Columns[c]).ToList();
                Assert.Equal((long)col["non_null"]!, parts.Sum(p => p.Count - p.NullCount));
                DuckDb.AssertSameValues(r.Schema[c], parts, col);
            }
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void EveryFixtureReadsLikeDuckDb()
    {
        foreach (var file in Directory.GetFiles(TestPaths.Fixtures, "*.parquet").Order())
        {
            // DuckDB keeps INT96 in 64-bit nanoseconds and overflows on this file's year-290000 value;
            // FixtureTests checks it against the values in its .md instead.
            if (Path.GetFileName(file) == "int96_from_spark.parquet") continue;
            var duck = DuckDb.Read(file);
            using var r = ParquetFileReader.Open(file);
            Assert.Equal((long)duck["rows"]!, r.RowCount);
            // List columns are compared with DuckDB in ListInteropTests.
            var readable = r.ReadableColumns.Where(c => !r.Schema[c].IsList).ToList();
            var groups = r.ReadRowGroups(readable).ToList();
            var columns = duck["columns"]!.AsObject();
            for (int c = 0; c < readable.Count; c++)
            {
                var col = columns[readable[c]]!.AsObject();
                DuckDb.AssertSameValues(r.Schema[readable[c]], groups.Select(g => g.Columns[c]).ToList(), col);
            }
            foreach (var column in r.Schema.Where(c => c.NotSupportedReason != null))
                Assert.True(columns[column.Name]?["nested"] != null, $"{file}: we call '{column.Name}' nested, DuckDB does not");
        }
    }
}
