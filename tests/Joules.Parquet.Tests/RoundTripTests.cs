using Xunit;

namespace Joules.Parquet.Tests;

public class RoundTripTests
{
    private static ParquetSchema TraceSchema() => new(
        ParquetColumn.Int64("request_id"),
        ParquetColumn.Timestamp("arrival_time", TimeUnit.Micros, utc: true),
        ParquetColumn.Int32("input_tokens"),
        ParquetColumn.Double("score"),
        ParquetColumn.Boolean("flag"),
        ParquetColumn.String("model", optional: true));

    [Theory]
    [InlineData(ParquetCodec.None)]
    [InlineData(ParquetCodec.Snappy)]
    [InlineData(ParquetCodec.Zstd)]
    [InlineData(ParquetCodec.Gzip)]
    [InlineData(ParquetCodec.Brotli)]
    [InlineData(ParquetCodec.Lz4Raw)]
    public void WritesAndReadsTraceShapedColumns(ParquetCodec codec)
    {
        var path = TestPaths.TempFile();
        try
        {
            const int n = 25_000;
            var ids = new long[n]; var ts = new long[n]; var tokens = new int[n]; var score = new double[n]; var flag = new bool[n]; var model = new string?[n];
            for (int i = 0; i < n; i++)
            {
                ids[i] = i * 7L - 3; ts[i] = 1_700_000_000_000_000 + i * 1000L; tokens[i] = i % 977; score[i] = i * 0.5; flag[i] = i % 3 == 0;
                model[i] = i % 11 == 0 ? null : "model-" + (i % 4);
            }
            using (var w = new ParquetFileWriter(path, TraceSchema(), new ParquetWriteOptions { Codec = codec, RowGroupRows = 10_000, Metadata = new Dictionary<string, string> { ["k"] = "v" } }))
                w.WriteRowGroup(ColumnData.From(ids), ColumnData.From(ts), ColumnData.From(tokens), ColumnData.From(score), ColumnData.From(flag), ColumnData.From(model));

            using var r = ParquetFileReader.Open(path);
            Assert.Equal(n, r.RowCount);
            Assert.Equal(3, r.RowGroupCount);
            Assert.Equal("v", r.Metadata["k"]);
            Assert.Equal(ParquetLogicalType.Timestamp(TimeUnit.Micros, true), r.Schema["arrival_time"].LogicalType);
            Assert.True(r.Schema["model"].IsOptional);
            int row = 0;
            foreach (var g in r.ReadRowGroups())
            {
                var gi = g.Get<long>("request_id"); var gt = g.Get<long>("arrival_time"); var gk = g.Get<int>("input_tokens");
                var gs = g.Get<double>("score"); var gf = g.Get<bool>("flag"); var gm = g.Get<string>("model");
                for (int i = 0; i < g.RowCount; i++, row++)
                {
                    Assert.Equal(ids[row], gi[i]); Assert.Equal(ts[row], gt[i]); Assert.Equal(tokens[row], gk[i]);
                    Assert.Equal(score[row], gs[i]); Assert.Equal(flag[row], gf[i]);
                    Assert.Equal(model[row], gm.IsNull(i) ? null : gm[i]);
                }
            }
            Assert.Equal(n, row);
        }
        finally { File.Delete(path); }
    }
}
