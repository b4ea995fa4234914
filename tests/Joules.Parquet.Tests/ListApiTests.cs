using Xunit;

namespace Joules.Parquet.Tests;

/// <summary>The list and decode-into-caller APIs: whole-column reads, reuse, and clear errors for misuse and bad data.</summary>
public class ListApiTests
{
    private static MemoryStream Write(ParquetSchema schema, ParquetWriteOptions? options, params ColumnData[] columns)
    {
        var ms = new MemoryStream();
        using (var w = new ParquetFileWriter(ms, schema, options, leaveOpen: true)) w.WriteRowGroup(columns);
        ms.Position = 0;
        return ms;
    }

    private static readonly ParquetSchema HashIds = new(ParquetColumn.Int64("request_id"), ParquetColumn.List("hash_ids", ParquetColumn.Int64("element"), optional: true));

    [Fact]
    public void WholeListColumnReadsIntoOneSetOfArrays()
    {
        const int rows = 25_000;
        var offsets = new int[rows + 1];
        var valid = new bool[rows];
        var values = new List<long>();
        for (int i = 0; i < rows; i++)
        {
            valid[i] = i % 10 != 3;
            if (valid[i]) for (int k = 0; k < i % 7; k++) values.Add(i * 100L + k);
            offsets[i + 1] = values.Count;
        }
        using var ms = Write(HashIds, new ParquetWriteOptions { RowGroupRows = 4_000 }, ColumnData.From(Enumerable.Range(0, rows).Select(i => (long)i).ToArray()), ColumnData.FromLists(offsets, values.ToArray(), valid));
        using var r = ParquetFileReader.Open(ms);
        Assert.Equal(7, r.RowGroupCount);
        var all = r.ReadListColumn<long>("hash_ids");
        Assert.Equal(rows, all.Count);
        Assert.Equal(offsets, all.Offsets);
        Assert.Equal(values, all.Elements.Span.ToArray());
        Assert.Equal(valid, Enumerable.Range(0, rows).Select(i => !all.IsNull(i)));
        Assert.True(r.ValueCount(0, "hash_ids") >= all.Offsets[4_000]);
        // A second read decodes into the same arrays.
        var again = r.ReadListColumn<long>("hash_ids", all);
        Assert.Same(all.Elements.Values, again.Elements.Values);
        Assert.Equal(values, again.Elements.Span.ToArray());
    }

    [Fact]
    public void ReadColumnFillsTheCallersArrays()
    {
        using var ms = Write(new ParquetSchema(ParquetColumn.Int32("x", optional: true), ParquetColumn.String("s", optional: true)), new ParquetWriteOptions { RowGroupRows = 3 },
            ColumnData.From(new[] { 1, 2, 3, 4, 5 }, new[] { true, false, true, true, true }), ColumnData.From(new string?[] { "a", null, "b", "c", null }));
        using var r = ParquetFileReader.Open(ms);
        var x = new int[5]; var xv = new bool[5]; var s = new string?[5];
        Assert.Equal(1, r.ReadColumn<int>(0, "x", x, xv));
        Assert.Equal(0, r.ReadColumn<int>(1, "x", x.AsSpan(3), xv.AsSpan(3)));
        r.ReadColumn<string>(0, "s", s!);
        r.ReadColumn<string>(1, "s", s.AsSpan(3)!);
        Assert.Equal([1, 0, 3, 4, 5], x);
        Assert.Equal([true, false, true, true, true], xv);
        Assert.Equal(new string?[] { "a", null, "b", "c", null }, s.AsEnumerable());
        var nulls = Assert.Throws<InvalidOperationException>(() => r.ReadColumn<int>(0, "x", new int[3]));
        Assert.Contains("column 'x' has 1 nulls", nulls.Message);
        Assert.Contains("wrong", Assert.Throws<ArgumentException>(() => r.ReadColumn<long>(0, "x", new long[3])).Message.Replace("holds Int32 values, not Int64", "wrong"));
        Assert.Contains("room for 2", Assert.Throws<ArgumentException>(() => r.ReadColumn<int>(0, "x", new int[2], new bool[3])).Message);
    }

    [Fact]
    public void BadListsAreRefusedWithTheRowNamed()
    {
        var ids = ColumnData.From(new long[] { 1, 2 });
        var e1 = Assert.Throws<ArgumentException>(() => Write(HashIds, null, ids, ColumnData.FromLists(new[] { 0, 2, 3 }, new long[] { 1, 2, 3 }, new[] { true, false })));
        Assert.Contains("row 1 is a null list but has 1 elements", e1.Message);
        var required = new ParquetSchema(ParquetColumn.Int64("request_id"), ParquetColumn.List("hash_ids", ParquetColumn.Int64("element")));
        var e2 = Assert.Throws<ArgumentException>(() => Write(required, null, ids, ColumnData.FromLists(new[] { 0, 0, 0 }, Array.Empty<long>(), new[] { true, false })));
        Assert.Contains("required lists but row 1 is null", e2.Message);
        var e3 = Assert.Throws<ArgumentException>(() => Write(HashIds, null, ids, ColumnData.FromLists(new[] { 0, 2, 1 }, new long[] { 1, 2 })));
        Assert.Contains("offsets decrease at row 1", e3.Message);
        var e4 = Assert.Throws<ArgumentException>(() => Write(HashIds, null, ids, ids));
        Assert.Contains("'hash_ids' is a list column", e4.Message);
        var e5 = Assert.Throws<ArgumentException>(() => Write(HashIds, null, ids, ColumnData.FromLists(new[] { 0, 1, 2 }, new long[] { 1, 2 }, elementValidity: new[] { true, false })));
        Assert.Contains("required elements but element 1 is null", e5.Message);
        Assert.Throws<ArgumentException>(() => ParquetColumn.List("x", ParquetColumn.List("y", ParquetColumn.Int32("element"))));
    }

    [Fact]
    public void CorruptListLevelsFailWithTheColumnNamed()
    {
        // Lists whose levels say a row continues before any row started, or whose row count disagrees, are format errors.
        using var ms = Write(HashIds, new ParquetWriteOptions { Codec = ParquetCodec.None, Dictionary = false },
            ColumnData.From(new long[] { 1, 2, 3 }), ColumnData.FromLists(new[] { 0, 2, 2, 5 }, new long[] { 7, 8, 9, 10, 11 }, new[] { true, false, true }));
        var bytes = ms.ToArray();
        using (var ok = ParquetFileReader.Open(new MemoryStream(bytes)))
            Assert.Equal([7L, 8], ok.ReadRowGroup(0).GetList<long>("hash_ids")[0].ToArray());
        // Overwrite the first repetition-level run (rep levels follow the 4-byte length of the first list page) with "1".
        int firstPage = FindListPage(bytes);
        bytes[firstPage + 4 + 1] = 1;
        using var bad = ParquetFileReader.Open(new MemoryStream(bytes), "bad.parquet");
        var e = Assert.Throws<ParquetFormatException>(() => bad.ReadRowGroup(0));
        Assert.Equal("hash_ids", e.Column);
        Assert.StartsWith("bad.parquet, row group 0, column 'hash_ids'", e.Message);
    }

    /// <summary>Offset of the second column chunk's first data page body (uncompressed, so its levels are in place).</summary>
    private static int FindListPage(byte[] bytes)
    {
        using var r = ParquetFileReader.Open(new MemoryStream(bytes));
        int footerLen = BitConverter.ToInt32(bytes, bytes.Length - 8);
        var meta = Format.FileMetaData.Read(new Thrift.CompactReader(bytes, bytes.Length - 8 - footerLen, footerLen));
        long start = meta.RowGroups[0].Columns[1].MetaData!.DataPageOffset;
        var reader = new Thrift.CompactReader(bytes, (int)start, bytes.Length - (int)start);
        Format.PageHeader.Read(reader);
        return reader.Position;
    }
}
