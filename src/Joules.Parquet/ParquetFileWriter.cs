using System.Buffers;
using Joules.Parquet.Format;
using Joules.Parquet.Thrift;

namespace Joules.Parquet;

/// <summary>Writes a Parquet file (primitive and one-level LIST columns) row group by row group: hand it typed column arrays, then Dispose (or Complete) to write the footer.</summary>
public sealed class ParquetFileWriter : IDisposable
{
    private static readonly byte[] Magic = "PAR1"u8.ToArray();
    private readonly Stream _stream;
    private readonly bool _ownsStream;
    private readonly ParquetWriteOptions _options;
    private readonly ColumnChunkWriter[] _columnWriters;
    private WriteScratch? _scratch;
    private readonly List<RowGroup> _rowGroups = new();
    private long _pos;
    private bool _completed;
    private bool _failed;

    public ParquetSchema Schema { get; }
    /// <summary>Rows written so far.</summary>
    public long RowCount { get; private set; }
    public int RowGroupCount => _rowGroups.Count;

    /// <summary>Creates (or overwrites) the file at <paramref name="path"/>.</summary>
    public ParquetFileWriter(string path, ParquetSchema schema, ParquetWriteOptions? options = null)
        : this(new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16), schema, options, leaveOpen: false) { }

    /// <summary>Writes to any writable stream (it need not seek).</summary>
    public ParquetFileWriter(Stream stream, ParquetSchema schema, ParquetWriteOptions? options = null, bool leaveOpen = false)
    {
        _stream = stream;
        _ownsStream = !leaveOpen;
        Schema = schema;
        _options = options ?? new ParquetWriteOptions();
        if (_options.RowGroupRows <= 0) throw new ArgumentException("RowGroupRows must be positive");
        foreach (var c in schema)
            if (c.NotSupportedReason != null) throw new ArgumentException($"column '{c.Name}' cannot be written: {c.NotSupportedReason}");
        _scratch = WriteScratch.Take();
        _columnWriters = schema.Select(c => new ColumnChunkWriter(c, _options, _scratch)).ToArray();
        _stream.Write(Magic);
        _pos = Magic.Length;
    }

    /// <summary>Writes rows from one array per schema column (same order, equal counts); more rows than <see cref="ParquetWriteOptions.RowGroupRows"/> become several row groups.</summary>
    public void WriteRowGroup(params ColumnData[] columns) => WriteRowGroup((IReadOnlyList<ColumnData>)columns);

    /// <inheritdoc cref="WriteRowGroup(ColumnData[])"/>
    public void WriteRowGroup(IReadOnlyList<ColumnData> columns)
    {
        if (_completed) throw new InvalidOperationException("the file is already complete");
        if (columns.Count != Schema.Count) throw new ArgumentException($"{columns.Count} columns given, the schema has {Schema.Count}");
        int rows = columns.Count == 0 ? 0 : columns[0].Count;
        for (int c = 0; c < columns.Count; c++)
        {
            if (columns[c].Count != rows) throw new ArgumentException($"column '{Schema[c].Name}' has {columns[c].Count} rows, column '{Schema[0].Name}' has {rows}");
            if (columns[c].ElementType != Schema[c].ClrType)
                throw new ArgumentException($"column '{Schema[c].Name}' ({Schema[c].TypeDescription}) takes {Schema[c].ClrType.Name} values, not {columns[c].ElementType.Name}");
            if (columns[c].IsList != Schema[c].IsList)
                throw new ArgumentException(Schema[c].IsList
                    ? $"column '{Schema[c].Name}' is a list column: give it lists (ColumnData.FromLists)"
                    : $"column '{Schema[c].Name}' ({Schema[c].TypeDescription}) is not a list column; it takes one value per row, not lists");
        }
        for (int start = 0; start < rows || (rows == 0 && start == 0); start += _options.RowGroupRows)
        {
            int n = Math.Min(_options.RowGroupRows, rows - start);
            if (n == 0) break; // an empty call writes nothing
            WriteOne(columns, start, n);
        }
    }

    private void WriteOne(IReadOnlyList<ColumnData> columns, int start, int n)
    {
        try
        {
            var rg = new RowGroup { NumRows = n, FileOffset = _pos };
            long uncompressed = 0;
            for (int c = 0; c < columns.Count; c++)
            {
                var chunk = _columnWriters[c].Write(columns[c], start, n, _stream, _pos);
                _pos += chunk.MetaData!.TotalCompressedSize;
                uncompressed += chunk.MetaData.TotalUncompressedSize;
                rg.Columns.Add(chunk);
            }
            rg.TotalByteSize = uncompressed;
            rg.TotalCompressedSize = _pos - rg.FileOffset;
            _rowGroups.Add(rg);
            RowCount += n;
        }
        catch
        {
            _failed = true;
            throw;
        }
    }

    /// <summary>Writes the footer and flushes; further writes fail. Called by Dispose if not called before.</summary>
    public void Complete()
    {
        if (_completed) return;
        _completed = true;
        var meta = new FileMetaData
        {
            Version = 1,
            NumRows = RowCount,
            RowGroups = _rowGroups,
            CreatedBy = _options.CreatedBy,
            ColumnOrderCount = Schema.Count,
        };
        meta.Schema.Add(new SchemaElement { Name = "schema", NumChildren = Schema.Count });
        foreach (var c in Schema)
        {
            if (c.Element is { } element)
            {
                // The standard three-level layout: <list> (LIST) { repeated group list { <element> } }.
                meta.Schema.Add(new SchemaElement
                {
                    Name = c.Name, NumChildren = 1, RepetitionType = c.IsOptional ? Repetition.Optional : Repetition.Required,
                    ConvertedType = ConvertedType.List, LogicalType = new LogicalTypeRaw { Kind = 3 },
                });
                meta.Schema.Add(new SchemaElement { Name = c.LeafPath[1], NumChildren = 1, RepetitionType = Repetition.Repeated });
                var leaf = ToElement(element);
                leaf.Name = c.LeafPath[^1];
                meta.Schema.Add(leaf);
            }
            else meta.Schema.Add(ToElement(c));
        }
        if (_options.Metadata != null)
            foreach (var kv in _options.Metadata) meta.KeyValueMetadata.Add(new(kv.Key, kv.Value));
        var buf = new ArrayBufferWriter<byte>(4096);
        meta.Write(new CompactWriter(buf));
        _stream.Write(buf.WrittenSpan);
        Span<byte> len = stackalloc byte[4];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(len, buf.WrittenCount);
        _stream.Write(len);
        _stream.Write(Magic);
        _stream.Flush();
    }

    private static SchemaElement ToElement(ParquetColumn c)
    {
        var e = new SchemaElement
        {
            Type = c.PhysicalType,
            RepetitionType = c.IsOptional ? Repetition.Optional : Repetition.Required,
            Name = c.Name,
            TypeLength = c.PhysicalType == PhysicalType.FixedLenByteArray ? c.TypeLength : null,
        };
        if (c.LogicalType is not { } lt) return e;
        // Both the logical type and its legacy converted type, so older readers understand the column too.
        var raw = new LogicalTypeRaw();
        int unit = lt.Unit switch { TimeUnit.Millis => 1, TimeUnit.Micros => 2, _ => 3 };
        switch (lt.Kind)
        {
            case LogicalKind.String: raw.Kind = 1; e.ConvertedType = ConvertedType.Utf8; break;
            case LogicalKind.Enum: raw.Kind = 4; e.ConvertedType = ConvertedType.Enum; break;
            case LogicalKind.Json: raw.Kind = 12; e.ConvertedType = ConvertedType.Json; break;
            case LogicalKind.Bson: raw.Kind = 13; e.ConvertedType = ConvertedType.Bson; break;
            case LogicalKind.Uuid: raw.Kind = 14; break;
            case LogicalKind.Float16: raw.Kind = 15; break;
            case LogicalKind.Date: raw.Kind = 6; e.ConvertedType = ConvertedType.Date; break;
            case LogicalKind.Decimal:
                raw.Kind = 5; raw.Precision = lt.Precision; raw.Scale = lt.Scale;
                e.ConvertedType = ConvertedType.Decimal; e.Precision = lt.Precision; e.Scale = lt.Scale;
                break;
            case LogicalKind.Time:
                raw.Kind = 7; raw.Unit = unit; raw.AdjustedToUtc = lt.IsAdjustedToUtc;
                if (lt.IsAdjustedToUtc && lt.Unit != TimeUnit.Nanos) e.ConvertedType = lt.Unit == TimeUnit.Millis ? ConvertedType.TimeMillis : ConvertedType.TimeMicros;
                break;
            case LogicalKind.Timestamp:
                raw.Kind = 8; raw.Unit = unit; raw.AdjustedToUtc = lt.IsAdjustedToUtc;
                // The converted types mean UTC-adjusted instants; local timestamps and nanos have none.
                if (lt.IsAdjustedToUtc && lt.Unit != TimeUnit.Nanos) e.ConvertedType = lt.Unit == TimeUnit.Millis ? ConvertedType.TimestampMillis : ConvertedType.TimestampMicros;
                break;
            case LogicalKind.Int:
                raw.Kind = 10; raw.BitWidth = lt.BitWidth; raw.Signed = lt.IsSigned;
                e.ConvertedType = (lt.BitWidth, lt.IsSigned) switch
                {
                    (8, true) => ConvertedType.Int8, (16, true) => ConvertedType.Int16, (32, true) => ConvertedType.Int32, (64, true) => ConvertedType.Int64,
                    (8, false) => ConvertedType.Uint8, (16, false) => ConvertedType.Uint16, (32, false) => ConvertedType.Uint32, _ => ConvertedType.Uint64,
                };
                break;
            default: return e;
        }
        e.LogicalType = raw;
        return e;
    }

    public void Dispose()
    {
        try
        {
            // A failed write leaves no footer, so a half-written file never passes as complete.
            if (!_failed) Complete();
        }
        finally
        {
            _scratch?.Return();
            _scratch = null;
            if (_ownsStream) _stream.Dispose();
        }
    }
}
