namespace Joules.Parquet.Bench;

/// <summary>Joules.Parquet: writes whole arrays (the writer cuts row groups), reads row group by row group into the caller's arrays.</summary>
public sealed class OursLibrary : IBenchLibrary
{
    public string Name => "joules";
    public bool NullableShape => false;

    public static ParquetCodec Codec(string name) => name switch
    {
        "snappy" => ParquetCodec.Snappy, "zstd" => ParquetCodec.Zstd, "none" => ParquetCodec.None, "gzip" => ParquetCodec.Gzip,
        _ => throw new ArgumentException($"unknown codec '{name}' (snappy, zstd, gzip, none)"),
    };

    public static ParquetColumn Column(BenchColumn c) => c.Kind switch
    {
        BenchKind.Int64 => ParquetColumn.Int64(c.Name, c.Optional),
        BenchKind.Timestamp => ParquetColumn.Timestamp(c.Name, TimeUnit.Micros, utc: true, c.Optional),
        BenchKind.Int32 => ParquetColumn.Int32(c.Name, c.Optional),
        BenchKind.Double => ParquetColumn.Double(c.Name, c.Optional),
        BenchKind.String => ParquetColumn.String(c.Name, c.Optional),
        _ => throw new NotSupportedException($"column kind {c.Kind}"),
    };

    private static ColumnData Data(BenchColumn c) => c.Kind switch
    {
        BenchKind.Int64 or BenchKind.Timestamp => ColumnData.From(c.Longs!, c.Validity),
        BenchKind.Int32 => ColumnData.From(c.Ints!, c.Validity),
        BenchKind.Double => ColumnData.From(c.Doubles!, c.Validity),
        BenchKind.String => ColumnData.From(c.Strings!),
        _ => throw new NotSupportedException($"column kind {c.Kind}"),
    };

    public void Write(string path, Dataset dataset, BenchTable table, string codec, int rowGroupRows)
    {
        var schema = new ParquetSchema(table.Columns.Select(Column));
        using var writer = new ParquetFileWriter(path, schema, new ParquetWriteOptions { Codec = Codec(codec), RowGroupRows = rowGroupRows });
        writer.WriteRowGroup(table.Columns.Select(Data).ToArray());
    }

    public void Read(string path, BenchTable into)
    {
        using var reader = ParquetFileReader.Open(path);
        var names = into.Columns.Select(c => c.Name).ToArray();
        int row = 0;
        for (int g = 0; g < reader.RowGroupCount; g++)
        {
            var group = reader.ReadRowGroup(g, names);
            for (int k = 0; k < into.Columns.Count; k++)
            {
                var dst = into.Columns[k];
                var src = group.Columns[k];
                switch (src)
                {
                    case ColumnData<long> l: l.Span.CopyTo(dst.Longs.AsSpan(row)); break;
                    case ColumnData<int> n: n.Span.CopyTo(dst.Ints.AsSpan(row)); break;
                    case ColumnData<double> d: d.Span.CopyTo(dst.Doubles.AsSpan(row)); break;
                    case ColumnData<string> s: s.Span.CopyTo(dst.Strings.AsSpan(row)!); break;
                }
                if (dst.Validity != null)
                {
                    if (src.Validity is { } v) v.AsSpan(0, group.RowCount).CopyTo(dst.Validity.AsSpan(row));
                    else dst.Validity.AsSpan(row, group.RowCount).Fill(true);
                }
            }
            row += group.RowCount;
        }
    }
}
