using PS = ParquetSharp;

namespace Joules.Parquet.Bench;

/// <summary>ParquetSharp (Apache Arrow C++'s Parquet library): typed LogicalColumnWriter/Reader batches straight from and into the caller's arrays.</summary>
public sealed class ParquetSharpLibrary : IBenchLibrary
{
    public string Name => "parquetsharp";
    public bool NullableShape => true;

    private static PS.Compression Codec(string name) => name switch
    {
        "snappy" => PS.Compression.Snappy, "zstd" => PS.Compression.Zstd, "none" => PS.Compression.Uncompressed, "gzip" => PS.Compression.Gzip,
        _ => throw new ArgumentException($"unknown codec '{name}'"),
    };

    private static PS.Column Column(BenchColumn c) => (c.Kind, c.Optional) switch
    {
        (BenchKind.Int64, false) => new PS.Column<long>(c.Name),
        (BenchKind.Int64, true) => new PS.Column<long?>(c.Name),
        (BenchKind.Timestamp, false) => new PS.Column<long>(c.Name, PS.LogicalType.Timestamp(true, PS.TimeUnit.Micros)),
        (BenchKind.Timestamp, true) => new PS.Column<long?>(c.Name, PS.LogicalType.Timestamp(true, PS.TimeUnit.Micros)),
        (BenchKind.Int32, false) => new PS.Column<int>(c.Name),
        (BenchKind.Int32, true) => new PS.Column<int?>(c.Name),
        (BenchKind.Double, false) => new PS.Column<double>(c.Name),
        (BenchKind.Double, true) => new PS.Column<double?>(c.Name),
        (BenchKind.String, _) => new PS.Column<string>(c.Name, PS.LogicalType.String()),
        (BenchKind.ListInt64, _) => new PS.Column<long[]>(c.Name),
        _ => throw new NotSupportedException($"column kind {c.Kind}"),
    };

    public void Write(string path, Dataset dataset, BenchTable table, string codec, int rowGroupRows)
    {
        using var props = new PS.WriterPropertiesBuilder().Compression(Codec(codec)).Build();
        using var file = new PS.ParquetFileWriter(path, table.Columns.Select(Column).ToArray(), props);
        for (int start = 0; start < table.Rows; start += rowGroupRows)
        {
            int n = Math.Min(rowGroupRows, table.Rows - start);
            using var rg = file.AppendRowGroup();
            foreach (var c in table.Columns)
            {
                using var col = rg.NextColumn();
                if (c.NullableLongs != null) Write(col, c.NullableLongs, start, n, c.Kind == BenchKind.Timestamp);
                else if (c.Longs != null) Write(col, c.Longs, start, n, c.Kind == BenchKind.Timestamp);
                else if (c.Ints != null) Write(col, c.Ints, start, n, false);
                else if (c.NullableInts != null) Write(col, c.NullableInts, start, n, false);
                else if (c.Doubles != null) Write(col, c.Doubles, start, n, false);
                else if (c.NullableDoubles != null) Write(col, c.NullableDoubles, start, n, false);
                else if (c.Strings != null) Write(col, c.Strings, start, n, false);
                else Write(col, c.Jagged!, start, n, false);
            }
            rg.Close();
        }
        file.Close();
    }

    private static void Write<T>(PS.ColumnWriter col, T[] values, int start, int n, bool overrideType)
    {
        // Timestamps stay raw INT64 micros on both sides (no DateTime conversion), as ours writes them.
        using var w = overrideType ? col.LogicalWriterOverride<T>() : col.LogicalWriter<T>();
        w.WriteBatch(values, start, n);
    }

    public void Read(string path, BenchTable into)
    {
        using var file = new PS.ParquetFileReader(path);
        int groups = file.FileMetaData.NumRowGroups;
        int row = 0;
        for (int g = 0; g < groups; g++)
        {
            using var rg = file.RowGroup(g);
            int n = checked((int)rg.MetaData.NumRows);
            for (int k = 0; k < into.Columns.Count; k++)
            {
                var c = into.Columns[k];
                using var col = rg.Column(k);
                if (c.NullableLongs != null) Read(col, c.NullableLongs, row, n, c.Kind == BenchKind.Timestamp);
                else if (c.Longs != null) Read(col, c.Longs, row, n, c.Kind == BenchKind.Timestamp);
                else if (c.Ints != null) Read(col, c.Ints, row, n, false);
                else if (c.NullableInts != null) Read(col, c.NullableInts, row, n, false);
                else if (c.Doubles != null) Read(col, c.Doubles, row, n, false);
                else if (c.NullableDoubles != null) Read(col, c.NullableDoubles, row, n, false);
                else if (c.Strings != null) Read(col, c.Strings, row, n, false);
                else Read(col, c.Jagged!, row, n, false);
            }
            row += n;
        }
    }

    private static void Read<T>(PS.ColumnReader col, T[] into, int start, int n, bool overrideType)
    {
        using var r = overrideType ? col.LogicalReaderOverride<T>() : col.LogicalReader<T>();
        int done = 0;
        while (done < n)
        {
            int got = r.ReadBatch(into, start + done, n - done);
            if (got == 0) throw new InvalidDataException($"column chunk ended after {done} of {n} rows");
            done += got;
        }
    }
}
