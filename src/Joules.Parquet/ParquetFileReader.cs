using System.Buffers;
using System.Buffers.Binary;
using Joules.Parquet.Format;
using Joules.Parquet.Thrift;

namespace Joules.Parquet;

/// <summary>Reads a flat Parquet file one row group at a time, with column projection; memory stays bounded by one row group.</summary>
public sealed class ParquetFileReader : IDisposable
{
    private static readonly byte[] Magic = "PAR1"u8.ToArray();
    private readonly Stream _stream;
    private readonly bool _ownsStream;
    private readonly long _length;
    private readonly long _footerStart;
    private readonly FileMetaData _meta;
    private readonly int[] _leafIndex; // top-level column -> index of its (first) leaf chunk
    private readonly long[] _firstRow;
    private readonly ParquetReadOptions _options;

    /// <summary>The file name used in error messages.</summary>
    public string Name { get; }
    /// <summary>Top-level columns; nested or repeated ones are listed with <see cref="ParquetColumn.NotSupportedReason"/> set.</summary>
    public ParquetSchema Schema { get; }
    public long RowCount { get; }
    public int RowGroupCount => _meta.RowGroups.Count;
    /// <summary>The file's key/value metadata, in file order (later duplicates win).</summary>
    public IReadOnlyDictionary<string, string?> Metadata { get; }
    public string? CreatedBy => _meta.CreatedBy;

    private ParquetFileReader(Stream stream, bool ownsStream, string name, ParquetReadOptions options)
    {
        _stream = stream;
        _ownsStream = ownsStream;
        Name = name;
        _options = options;
        try
        {
            _length = stream.Length;
            if (_length < 12) throw Error($"file is {_length} bytes, too short to be Parquet (at least 12 needed)");
            Span<byte> tail = stackalloc byte[8];
            Span<byte> head = stackalloc byte[4];
            ReadAt(0, head);
            ReadAt(_length - 8, tail);
            if (!head.SequenceEqual(Magic)) throw Error("not a Parquet file: it does not start with the magic bytes PAR1");
            if (tail[4..].SequenceEqual("PARE"u8)) throw Error("encrypted Parquet files are not supported", notSupported: true);
            if (!tail[4..].SequenceEqual(Magic)) throw Error("not a Parquet file or truncated: it does not end with the magic bytes PAR1");
            int footerLen = BinaryPrimitives.ReadInt32LittleEndian(tail);
            if (footerLen <= 0 || footerLen > _length - 12)
                throw Error($"corrupt footer length {footerLen} (the file has {_length} bytes)");
            if (footerLen > options.MaxFooterBytes) throw Error($"footer of {footerLen} bytes is over the {options.MaxFooterBytes} byte limit");
            _footerStart = _length - 8 - footerLen;
            var footer = new byte[footerLen];
            ReadAt(_footerStart, footer);
            try { _meta = FileMetaData.Read(new CompactReader(footer, 0, footerLen)); }
            catch (ParquetFormatException e) { throw Error($"footer: {e.Message}", e); }

            (Schema, _leafIndex) = BuildSchema(_meta);
            if (_meta.NumRows < 0) throw Error($"negative row count {_meta.NumRows}");
            RowCount = _meta.NumRows;
            _firstRow = new long[_meta.RowGroups.Count];
            long total = 0;
            int leaves = _leafIndex.Length == 0 ? 0 : CountLeaves(_meta);
            for (int g = 0; g < _meta.RowGroups.Count; g++)
            {
                var rg = _meta.RowGroups[g];
                if (rg.NumRows < 0 || rg.NumRows > int.MaxValue) throw Error($"row group {g} declares {rg.NumRows} rows");
                if (rg.Columns.Count != leaves) throw Error($"row group {g} has {rg.Columns.Count} column chunks, the schema has {leaves} leaf columns");
                _firstRow[g] = total;
                total += rg.NumRows;
            }
            if (total != RowCount) throw Error($"the row groups hold {total} rows, the footer declares {RowCount}");
            var md = new Dictionary<string, string?>(StringComparer.Ordinal);
            foreach (var kv in _meta.KeyValueMetadata) md[kv.Key] = kv.Value;
            Metadata = md;
        }
        catch
        {
            if (ownsStream) stream.Dispose();
            throw;
        }
    }

    /// <summary>Opens a file; throws <see cref="FileNotFoundException"/> when absent and <see cref="ParquetFormatException"/> when it is not valid Parquet.</summary>
    public static ParquetFileReader Open(string path, ParquetReadOptions? options = null)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"no such file: {path}", path);
        var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.RandomAccess);
        return new ParquetFileReader(fs, true, path, options ?? ParquetReadOptions.Default);
    }

    /// <summary>Reads from a seekable stream; <paramref name="name"/> is used in error messages.</summary>
    public static ParquetFileReader Open(Stream stream, string name = "<stream>", ParquetReadOptions? options = null, bool leaveOpen = false)
    {
        if (!stream.CanSeek || !stream.CanRead) throw new ArgumentException("the stream must be readable and seekable", nameof(stream));
        return new ParquetFileReader(stream, !leaveOpen, name, options ?? ParquetReadOptions.Default);
    }

    /// <summary>Number of rows in one row group.</summary>
    public int RowGroupRowCount(int rowGroup) => (int)_meta.RowGroups[rowGroup].NumRows;

    /// <summary>Reads one row group; <paramref name="columns"/> names the columns wanted (all when null), in the order returned.</summary>
    public RowGroupData ReadRowGroup(int index, IReadOnlyList<string>? columns = null)
    {
        if ((uint)index >= (uint)RowGroupCount) throw new ArgumentOutOfRangeException(nameof(index), $"row group {index} does not exist ({RowGroupCount} row groups)");
        var wanted = columns == null ? Enumerable.Range(0, Schema.Count).ToArray() : columns.Select(Schema.IndexOf).ToArray();
        var rg = _meta.RowGroups[index];
        int rows = (int)rg.NumRows;
        var result = new ColumnData[wanted.Length];
        byte[] buffer = [];
        try
        {
            for (int i = 0; i < wanted.Length; i++)
            {
                var column = Schema[wanted[i]];
                if (column.NotSupportedReason != null)
                    throw ParquetFormatException.At(Name, index, column.Name, null, column.NotSupportedReason, notSupported: true);
                var chunk = rg.Columns[_leafIndex[wanted[i]]];
                var meta = chunk.MetaData ?? throw ParquetFormatException.At(Name, index, column.Name, null, "column chunk has no metadata");
                if (chunk.FilePath != null) throw ParquetFormatException.At(Name, index, column.Name, null, $"column data in another file ({chunk.FilePath}) is not supported", notSupported: true);
                if (meta.Type != column.PhysicalType)
                    throw ParquetFormatException.At(Name, index, column.Name, null, $"chunk type {meta.Type} does not match the schema type {column.PhysicalType}");
                if (meta.NumValues != rows)
                    throw ParquetFormatException.At(Name, index, column.Name, null, $"chunk holds {meta.NumValues} values, the row group has {rows} rows");
                long start = meta.DataPageOffset;
                if (meta.DictionaryPageOffset is long d && d > 0 && d < start) start = d;
                long len = meta.TotalCompressedSize;
                if (start < 4 || len < 0 || start + len > _footerStart)
                    throw ParquetFormatException.At(Name, index, column.Name, null, $"column chunk at offset {start} with {len} bytes lies outside the data region (4..{_footerStart})");
                if (len > _options.MaxChunkBytes)
                    throw ParquetFormatException.At(Name, index, column.Name, null, $"column chunk of {len} bytes is over the {_options.MaxChunkBytes} byte limit");
                if (buffer.Length < len)
                {
                    if (buffer.Length > 0) ArrayPool<byte>.Shared.Return(buffer);
                    buffer = ArrayPool<byte>.Shared.Rent((int)Math.Max(len, 1));
                }
                ReadAt(start, buffer.AsSpan(0, (int)len));
                result[i] = new ColumnChunkReader(Name, index, column, _options).Read(buffer, 0, (int)len, meta, rows);
            }
        }
        finally
        {
            if (buffer.Length > 0) ArrayPool<byte>.Shared.Return(buffer);
        }
        return new RowGroupData(index, _firstRow[index], new ParquetSchema(wanted.Select(w => Schema[w])), result, rows);
    }

    /// <summary>Streams every row group in order.</summary>
    public IEnumerable<RowGroupData> ReadRowGroups(IReadOnlyList<string>? columns = null)
    {
        for (int g = 0; g < RowGroupCount; g++) yield return ReadRowGroup(g, columns);
    }

    /// <summary>Names of the columns this library can read (skips nested ones).</summary>
    public IReadOnlyList<string> ReadableColumns => Schema.Where(c => c.NotSupportedReason == null).Select(c => c.Name).ToArray();

    private void ReadAt(long offset, Span<byte> dst)
    {
        _stream.Seek(offset, SeekOrigin.Begin);
        try { _stream.ReadExactly(dst); }
        catch (EndOfStreamException e) { throw Error($"unexpected end of file reading {dst.Length} bytes at offset {offset}", e); }
    }

    private ParquetFormatException Error(string message, Exception? inner = null, bool notSupported = false) =>
        ParquetFormatException.At(Name, null, null, null, message, inner, notSupported);

    private static int CountLeaves(FileMetaData meta) => meta.Schema.Skip(1).Count(e => e.NumChildren is null or 0);

    private (ParquetSchema, int[]) BuildSchema(FileMetaData meta)
    {
        if (meta.Schema.Count == 0) throw Error("footer has an empty schema");
        var root = meta.Schema[0];
        int children = root.NumChildren ?? 0;
        var columns = new List<ParquetColumn>();
        var leafIndex = new List<int>();
        int pos = 1, leaf = 0;
        for (int c = 0; c < children; c++)
        {
            if (pos >= meta.Schema.Count) throw Error("schema declares more columns than it lists");
            var e = meta.Schema[pos];
            if (e.NumChildren is int nc && nc > 0)
            {
                // A group: skip its whole subtree, counting leaves so later columns map to the right chunks.
                int first = leaf;
                int end = SkipSubtree(meta, pos, ref leaf);
                var physical = FirstLeafType(meta, pos) ?? PhysicalType.ByteArray;
                columns.Add(new ParquetColumn(SafeName(e.Name, columns.Count), physical, null, e.RepetitionType != Repetition.Required)
                    { NotSupportedReason = $"column '{e.Name}' is a nested (group) column; nested columns are not supported" });
                leafIndex.Add(first);
                pos = end;
                continue;
            }
            if (e.Type is not PhysicalType t || !Enum.IsDefined(t)) throw Error($"schema element '{e.Name}' has no valid physical type");
            var logical = MapLogical(e);
            string? reason = e.RepetitionType == Repetition.Repeated ? $"column '{e.Name}' is repeated; repeated columns are not supported" : null;
            int typeLen = t == PhysicalType.FixedLenByteArray ? e.TypeLength ?? 0 : 0;
            if (t == PhysicalType.FixedLenByteArray && typeLen <= 0) throw Error($"column '{e.Name}' is FIXED_LEN_BYTE_ARRAY without a valid length");
            columns.Add(new ParquetColumn(SafeName(e.Name, columns.Count), t, logical, e.RepetitionType == Repetition.Optional, typeLen) { NotSupportedReason = reason });
            leafIndex.Add(leaf++);
            pos++;
        }
        if (pos != meta.Schema.Count) throw Error($"schema lists {meta.Schema.Count - 1} elements but its root declares {children} children covering {pos - 1}");
        try { return (new ParquetSchema(columns), leafIndex.ToArray()); }
        catch (ArgumentException ex) { throw Error($"schema: {ex.Message}", ex); }
    }

    private static string SafeName(string name, int index) => string.IsNullOrEmpty(name) ? $"_col{index}" : name;

    private int SkipSubtree(FileMetaData meta, int pos, ref int leaf)
    {
        int depth = 0;
        int pending = 1;
        while (pending > 0)
        {
            if (pos >= meta.Schema.Count) throw Error("schema group declares more children than it lists");
            if (++depth > 1_000_000) throw Error("schema too deep");
            var e = meta.Schema[pos++];
            pending--;
            if (e.NumChildren is int n && n > 0)
            {
                if (n > meta.Schema.Count) throw Error($"schema element '{e.Name}' declares {n} children");
                pending += n;
            }
            else leaf++;
        }
        return pos;
    }

    private static PhysicalType? FirstLeafType(FileMetaData meta, int pos)
    {
        for (int i = pos; i < meta.Schema.Count; i++)
            if (meta.Schema[i].NumChildren is null or 0) return meta.Schema[i].Type is PhysicalType t && Enum.IsDefined(t) ? t : null;
        return null;
    }

    private static ParquetLogicalType? MapLogical(SchemaElement e)
    {
        if (e.LogicalType is { } lt && lt.Kind != 0)
        {
            var unit = lt.Unit switch { 1 => TimeUnit.Millis, 3 => TimeUnit.Nanos, _ => TimeUnit.Micros };
            return lt.Kind switch
            {
                1 => ParquetLogicalType.String,
                4 => ParquetLogicalType.Enum,
                5 => ParquetLogicalType.Decimal(lt.Precision, lt.Scale),
                6 => ParquetLogicalType.Date,
                7 => ParquetLogicalType.Time(unit, lt.AdjustedToUtc),
                8 => ParquetLogicalType.Timestamp(unit, lt.AdjustedToUtc),
                10 => ParquetLogicalType.Int(lt.BitWidth, lt.Signed),
                12 => ParquetLogicalType.Json,
                13 => new ParquetLogicalType { Kind = LogicalKind.Bson },
                14 => ParquetLogicalType.Uuid,
                15 => new ParquetLogicalType { Kind = LogicalKind.Float16 },
                _ => new ParquetLogicalType { Kind = LogicalKind.Unknown },
            };
        }
        return e.ConvertedType switch
        {
            ConvertedType.Utf8 => ParquetLogicalType.String,
            ConvertedType.Enum => ParquetLogicalType.Enum,
            ConvertedType.Json => ParquetLogicalType.Json,
            ConvertedType.Bson => new ParquetLogicalType { Kind = LogicalKind.Bson },
            ConvertedType.Date => ParquetLogicalType.Date,
            ConvertedType.Decimal => ParquetLogicalType.Decimal(e.Precision ?? 0, e.Scale ?? 0),
            ConvertedType.TimeMillis => ParquetLogicalType.Time(TimeUnit.Millis),
            ConvertedType.TimeMicros => ParquetLogicalType.Time(TimeUnit.Micros),
            ConvertedType.TimestampMillis => ParquetLogicalType.Timestamp(TimeUnit.Millis),
            ConvertedType.TimestampMicros => ParquetLogicalType.Timestamp(TimeUnit.Micros),
            ConvertedType.Int8 => ParquetLogicalType.Int(8),
            ConvertedType.Int16 => ParquetLogicalType.Int(16),
            ConvertedType.Int32 => ParquetLogicalType.Int(32),
            ConvertedType.Int64 => ParquetLogicalType.Int(64),
            ConvertedType.Uint8 => ParquetLogicalType.Int(8, false),
            ConvertedType.Uint16 => ParquetLogicalType.Int(16, false),
            ConvertedType.Uint32 => ParquetLogicalType.Int(32, false),
            ConvertedType.Uint64 => ParquetLogicalType.Int(64, false),
            _ => null,
        };
    }

    public void Dispose()
    {
        if (_ownsStream) _stream.Dispose();
    }
}
