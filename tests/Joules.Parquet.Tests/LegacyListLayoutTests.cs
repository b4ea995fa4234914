using Xunit;
using PS = ParquetSharp;

namespace Joules.Parquet.Tests;

/// <summary>
/// The list layouts older writers produce, which the format's backward-compatibility rules say how to read: a LIST group with a
/// repeated primitive child (two levels), a bare repeated primitive (a required list), and a LIST of one-field structs named
/// "array" (structs, not values: listed as not supported). Written with Arrow C++'s low-level API, checked against DuckDB.
/// </summary>
public class LegacyListLayoutTests
{
    [Fact]
    public void TwoLevelAndBareRepeatedListsRead()
    {
        var path = TestPaths.TempFile();
        try
        {
            var schema = new PS.Schema.GroupNode("schema", PS.Repetition.Required,
            [
                new PS.Schema.GroupNode("two_level", PS.Repetition.Optional,
                    [new PS.Schema.PrimitiveNode("element", PS.Repetition.Repeated, PS.LogicalType.None(), PS.PhysicalType.Int32)], PS.LogicalType.List()),
                new PS.Schema.PrimitiveNode("bare", PS.Repetition.Repeated, PS.LogicalType.None(), PS.PhysicalType.Int64),
                new PS.Schema.GroupNode("structs", PS.Repetition.Optional,
                    [new PS.Schema.GroupNode("array", PS.Repetition.Repeated, [new PS.Schema.PrimitiveNode("x", PS.Repetition.Required, PS.LogicalType.None(), PS.PhysicalType.Int32)], null)],
                    PS.LogicalType.List()),
                new PS.Schema.PrimitiveNode("id", PS.Repetition.Required, PS.LogicalType.None(), PS.PhysicalType.Int32),
            ], null);
            using (var props = new PS.WriterPropertiesBuilder().Build())
            using (var file = new PS.ParquetFileWriter(path, schema, props))
            {
                using var rg = file.AppendRowGroup();
                // Rows: two_level [1,2], null, [], [3]; bare [10], [], [11,12], [13]; structs [{5}], null, [], [{6}].
                using (var w = (PS.ColumnWriter<int>)rg.NextColumn()) w.WriteBatch(5, new short[] { 2, 2, 0, 1, 2 }, new short[] { 0, 1, 0, 0, 0 }, new[] { 1, 2, 3 });
                using (var w = (PS.ColumnWriter<long>)rg.NextColumn()) w.WriteBatch(5, new short[] { 1, 0, 1, 1, 1 }, new short[] { 0, 0, 0, 1, 0 }, new long[] { 10, 11, 12, 13 });
                using (var w = (PS.ColumnWriter<int>)rg.NextColumn()) w.WriteBatch(4, new short[] { 2, 0, 1, 2 }, new short[] { 0, 0, 0, 0 }, new[] { 5, 6 });
                using (var w = (PS.ColumnWriter<int>)rg.NextColumn()) w.WriteBatch(new[] { 0, 1, 2, 3 });
                file.Close();
            }
            using var r = ParquetFileReader.Open(path);
            Assert.True(r.Schema["two_level"].IsList && r.Schema["two_level"].IsOptional && !r.Schema["two_level"].Element!.IsOptional);
            Assert.True(r.Schema["bare"].IsList && !r.Schema["bare"].IsOptional);
            Assert.Contains("structs", r.Schema["structs"].NotSupportedReason);
            Assert.Equal(["two_level", "bare", "id"], r.ReadableColumns);
            var g = r.ReadRowGroup(0, r.ReadableColumns);
            var ours = Enumerable.Range(0, 4).Select(i => g.Columns.Select(c => DuckDbNet.Json(c, i)).ToArray()).ToList();
            Assert.Equal(["[1,2]", "null", "[]", "[3]"], ours.Select(row => row[0]));
            Assert.Equal(["[10]", "[]", "[11,12]", "[13]"], ours.Select(row => row[1]));
            var duck = DuckDbNet.JsonRows(path, "'two_level|bare|id'");
            for (int i = 0; i < 4; i++)
                for (int c = 0; c < 3; c++)
                    Assert.True(DuckDbNet.SameJson(duck[i][c], ours[i][c]), $"row {i} column {c}: DuckDB {duck[i][c]}, ours {ours[i][c]}");
            // The unsupported column stays an error that names it; the file's other columns read.
            var e = Assert.Throws<ParquetFormatException>(() => r.ReadRowGroup(0, ["structs"]));
            Assert.Contains("'structs'", e.Message);
        }
        finally { File.Delete(path); }
    }
}
