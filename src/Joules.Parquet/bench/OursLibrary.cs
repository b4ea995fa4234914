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
        BenchKind.ListInt64 => ParquetColumn.List(c.Name, ParquetColumn.Int64("element"), c.Optional),
        _ => throw new NotSupportedException($"column kind {c.Kind}"),
    };

    private static ColumnData Data(BenchColumn c) => c.Kind switch
    {
        BenchKind.Int64 or BenchKind.Timestamp => ColumnData.From(c.Longs!, c.Validity),
        BenchKind.Int32 => ColumnData.From(c.Ints!, c.Validity),
        BenchKind.Double => ColumnData.From(c.Doubles!, c.Validity),
        BenchKind.String => ColumnData.From(c.Strings!),
        BenchKind.ListInt64 => ColumnData.FromLists(c.Offsets!, c.Longs!, c.Validity),
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
        int row = 0;
        for (int g = 0; g < reader.RowGroupCount; g++)
        {
            int n = reader.RowGroupRowCount(g);
            for (int k = 0; k < into.Columns.Count; k++)
            {
                var c = into.Columns[k];
                // Primitive columns decode straight into the caller's whole-file arrays.
                switch (c.Kind)
                {
                    case BenchKind.Int64 or BenchKind.Timestamp: reader.ReadColumn<long>(g, c.Name, c.Longs.AsSpan(row), Valid(c, row)); break;
                    case BenchKind.Int32: reader.ReadColumn<int>(g, c.Name, c.Ints.AsSpan(row), Valid(c, row)); break;
                    case BenchKind.Double: reader.ReadColumn<double>(g, c.Name, c.Doubles.AsSpan(row), Valid(c, row)); break;
                    case BenchKind.String: reader.ReadColumn<string>(g, c.Name, c.Strings.AsSpan(row)!); break;
                    default:
                        break; // lists are read whole below
                }
            }
            row += n;
        }
        // Lists: the whole column at once, into arrays sized from the footer (and reused from the previous pass).
        foreach (var c in into.Columns.Where(c => c.Kind == BenchKind.ListInt64))
        {
            var list = reader.ReadListColumn<long>(c.Name, c.OursList);
            c.OursList = list;
            c.Longs = list.Elements.Values;
            list.Offsets.AsSpan(0, into.Rows + 1).CopyTo(c.Offsets);
            for (int i = 0; i < into.Rows; i++) c.Validity![i] = !list.IsNull(i);
        }
    }

    private static Span<bool> Valid(BenchColumn c, int row) => c.Validity == null ? default : c.Validity.AsSpan(row);


}
