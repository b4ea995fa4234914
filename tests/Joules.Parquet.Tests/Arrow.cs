using Xunit;
using PS = ParquetSharp;

namespace Joules.Parquet.Tests;

/// <summary>Apache Arrow C++'s Parquet library (through ParquetSharp) as an outside writer and reader of the list test table.</summary>
internal static class Arrow
{
    private static T[]?[] Jagged<T>(ListColumnData<T> list, int start, int n) =>
        Enumerable.Range(start, n).Select(i => list.IsNull(i) ? null : list[i].ToArray()).ToArray();

    private static T?[]?[] JaggedNullable<T>(ListColumnData<T> list, int start, int n) where T : struct =>
        Enumerable.Range(start, n).Select(i => list.IsNull(i) ? null
            : Enumerable.Range(list.Offsets[i], list.LengthOf(i)).Select(k => list.Elements.IsNull(k) ? (T?)null : list.Elements[k]).ToArray()).ToArray();

    /// <summary>Writes <see cref="ListSamples"/> data: <paramref name="encoding"/> is "dictionary", "plain" or "delta" (DELTA_BINARY_PACKED ints, DELTA_BYTE_ARRAY strings).</summary>
    public static void WriteLists(string path, IReadOnlyList<ColumnData> data, PS.Compression codec, string encoding, bool v2, int rowGroupRows)
    {
        var b = new PS.WriterPropertiesBuilder().Compression(codec).DataPagesize(4096)
            .DataPageVersion(v2 ? PS.ParquetDataPageVersion.V2 : PS.ParquetDataPageVersion.V1);
        if (encoding != "dictionary") b.DisableDictionary();
        if (encoding == "delta")
        {
            b.Encoding("id", PS.Encoding.DeltaBinaryPacked);
            b.Encoding("hash_ids.list.element", PS.Encoding.DeltaBinaryPacked);
            b.Encoding("tokens.list.element", PS.Encoding.DeltaBinaryPacked);
            b.Encoding("tags.list.element", PS.Encoding.DeltaByteArray);
        }
        using var props = b.Build();
        var columns = new PS.Column[] { new PS.Column<long>("id"), new PS.Column<long[]>("hash_ids"), new PS.Column<int?[]>("tokens"), new PS.Column<string[]>("tags", PS.LogicalType.String()) };
        using var file = new PS.ParquetFileWriter(path, columns, props);
        var ids = (ColumnData<long>)data[0];
        var hashes = (ListColumnData<long>)data[1];
        var tokens = (ListColumnData<int>)data[2];
        var tags = (ListColumnData<string>)data[3];
        for (int start = 0; start < ids.Count; start += rowGroupRows)
        {
            int n = Math.Min(rowGroupRows, ids.Count - start);
            using var rg = file.AppendRowGroup();
            using (var w = rg.NextColumn().LogicalWriter<long>()) w.WriteBatch(ids.Values, start, n);
            using (var w = rg.NextColumn().LogicalWriter<long[]>()) w.WriteBatch(Jagged(hashes, start, n)!);
            using (var w = rg.NextColumn().LogicalWriter<int?[]>()) w.WriteBatch(JaggedNullable(tokens, start, n)!);
            using (var w = rg.NextColumn().LogicalWriter<string[]>()) w.WriteBatch(Jagged(tags, start, n)!);
        }
        file.Close();
    }

    /// <summary>Reads a file of the list test table with Arrow and checks every row against <paramref name="expected"/>.</summary>
    public static void AssertReadsLists(string path, IReadOnlyList<ColumnData> expected, string what)
    {
        using var file = new PS.ParquetFileReader(path);
        int row = 0;
        for (int g = 0; g < file.FileMetaData.NumRowGroups; g++)
        {
            using var rg = file.RowGroup(g);
            int n = (int)rg.MetaData.NumRows;
            var cols = new object?[][]
            {
                Read<long>(rg, 0, n).Select(v => (object?)v).ToArray(),
                Read<long[]>(rg, 1, n).Select(v => (object?)v?.Select(x => (object?)x).ToArray()).ToArray(),
                Read<int?[]>(rg, 2, n).Select(v => (object?)v?.Select(x => (object?)x).ToArray()).ToArray(),
                Read<string[]>(rg, 3, n).Select(v => (object?)v?.Select(x => (object?)x).ToArray()).ToArray(),
            };
            for (int c = 0; c < 4; c++)
                for (int i = 0; i < n; i++)
                {
                    var e = expected[c].GetValue(row + i);
                    if (!Cells.Same(e, cols[c][i])) Assert.Fail($"{what}: Arrow reads column {c} row {row + i} as {Cells.Show(cols[c][i])}, we wrote {Cells.Show(e)}");
                }
            row += n;
        }
        Assert.Equal(expected[0].Count, row);
    }

    private static T[] Read<T>(PS.RowGroupReader rg, int column, int n)
    {
        using var r = rg.Column(column).LogicalReader<T>();
        return r.ReadAll(n);
    }
}
