using System.Buffers.Binary;
using Joules.Parquet.Format;
using Joules.Parquet.Thrift;

namespace Joules.Parquet;

/// <summary>Reads a Parquet file (primitive and one-level LIST columns) one row group at a time, with column projection; memory stays bounded by one row group, or by the caller's arrays with <see cref="ReadColumn{T}"/>.</summary>
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
    // Reused from chunk to chunk and row group to row group: one chunk's bytes, and each column's page decoder with its scratch.
    private byte[] _chunkBuf = [];
    private readonly ColumnChunkReader?[] _readers;

    /// <summary>The file name used in error messages.</summary>
    public string Name { get; }
    /// <summary>Top-level columns; structs, maps and deeper nesting are listed with <see cref="ParquetColumn.NotSupportedReason"/> set.</summary>
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
            _readers = new ColumnChunkReader?[Schema.Count];
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

    /// <summary>
    /// Reads one row group; <paramref name="columns"/> names the columns wanted (all when null), in the order returned.
    /// With <paramref name="reuse"/> (a group this reader returned before), that group's arrays are decoded into again where they are
    /// large enough, so streaming a file allocates nothing per row group; <paramref name="reuse"/> is then no longer valid.
    /// </summary>
    public RowGroupData ReadRowGroup(int index, IReadOnlyList<string>? columns = null, RowGroupData? reuse = null)
    {
        CheckRowGroup(index);
        var wanted = columns == null ? Enumerable.Range(0, Schema.Count).ToArray() : columns.Select(Schema.IndexOf).ToArray();
        int rows = (int)_meta.RowGroups[index].NumRows;
        var result = new ColumnData[wanted.Length];
        for (int i = 0; i < wanted.Length; i++)
        {
            var column = Schema[wanted[i]];
            var old = reuse != null && reuse.Schema.Contains(column.Name) ? reuse[column.Name] : null;
            result[i] = column.PhysicalType switch
            {
                PhysicalType.Boolean => Decode<bool>(index, wanted[i], rows, old),
                PhysicalType.Int32 => Decode<int>(index, wanted[i], rows, old),
                PhysicalType.Int64 or PhysicalType.Int96 => Decode<long>(index, wanted[i], rows, old),
                PhysicalType.Float => Decode<float>(index, wanted[i], rows, old),
                PhysicalType.Double => Decode<double>(index, wanted[i], rows, old),
                PhysicalType.ByteArray when column.IsText => Decode<string>(index, wanted[i], rows, old),
                _ => Decode<byte[]>(index, wanted[i], rows, old),
            };
        }
        var schema = reuse != null && reuse.Schema.Select(c => c.Name).SequenceEqual(wanted.Select(w => Schema[w].Name)) ? reuse.Schema : new ParquetSchema(wanted.Select(w => Schema[w]));
        return new RowGroupData(index, _firstRow[index], schema, result, rows);
    }

    /// <summary>Streams every row group in order; with <paramref name="reuseBuffers"/>, each group's arrays are recycled for the next (so a group is valid only until the next one is read).</summary>
    public IEnumerable<RowGroupData> ReadRowGroups(IReadOnlyList<string>? columns = null, bool reuseBuffers = false)
    {
        RowGroupData? last = null;
        for (int g = 0; g < RowGroupCount; g++)
        {
            last = ReadRowGroup(g, columns, reuseBuffers ? last : null);
            yield return last;
        }
    }

    /// <summary>
    /// Decodes one primitive column of one row group straight into the caller's arrays: row r of the group lands in
    /// <paramref name="values"/>[r] (so pass <c>array.AsSpan(firstRow)</c> to fill a whole-file array), and for optional columns
    /// <paramref name="validity"/>[r] says whether it is present. Returns the number of nulls. <paramref name="validity"/> may be
    /// empty when the caller expects none (a null number then throws <see cref="InvalidOperationException"/>) and for strings and
    /// byte arrays, whose nulls are null references.
    /// </summary>
    public int ReadColumn<T>(int rowGroup, string column, Span<T> values, Span<bool> validity = default)
    {
        CheckRowGroup(rowGroup);
        int c = Schema.IndexOf(column);
        var col = Schema[c];
        if (col.IsList) throw new ArgumentException($"column '{column}' is a list column: read it with ReadRowGroup and RowGroupData.GetList", nameof(column));
        if (col.ClrType != typeof(T)) throw new ArgumentException($"column '{column}' ({col.TypeDescription}) holds {col.ClrType.Name} values, not {typeof(T).Name}", nameof(values));
        int rows = (int)_meta.RowGroups[rowGroup].NumRows;
        if (values.Length < rows) throw new ArgumentException($"row group {rowGroup} has {rows} rows; the values span has room for {values.Length}", nameof(values));
        if (!validity.IsEmpty && validity.Length < rows) throw new ArgumentException($"row group {rowGroup} has {rows} rows; the validity span has room for {validity.Length}", nameof(validity));
        var (reader, meta, offset, length) = LoadChunk(rowGroup, c, rows);
        int nulls = reader.ReadFlat(rowGroup, _chunkBuf, offset, length, meta, values.Slice(0, rows), validity.IsEmpty || !col.IsOptional ? default : validity.Slice(0, rows));
        if (!validity.IsEmpty && !col.IsOptional) validity.Slice(0, rows).Fill(true);
        // Strings and byte arrays mark nulls with null references; numbers need the validity span.
        if (nulls > 0 && validity.IsEmpty && typeof(T).IsValueType)
            throw new InvalidOperationException($"{Name}, row group {rowGroup}, column '{column}' has {nulls} nulls: pass a validity span to receive them");
        return nulls;
    }

    /// <summary>Values one column chunk stores, nulls included; for a list column also its empty and null lists, so it bounds the elements.</summary>
    public long ValueCount(int rowGroup, string column)
    {
        CheckRowGroup(rowGroup);
        return _meta.RowGroups[rowGroup].Columns[_leafIndex[Schema.IndexOf(column)]].MetaData?.NumValues ?? 0;
    }

    /// <summary>
    /// Reads a whole LIST column, every row group, into one <see cref="ListColumnData{T}"/> whose arrays are sized once from the
    /// footer: a few million lists cost three arrays, not one per row. Pass the result of an earlier call as <paramref name="reuse"/>
    /// to decode into its arrays again where they are large enough.
    /// </summary>
    public ListColumnData<T> ReadListColumn<T>(string column, ListColumnData<T>? reuse = null)
    {
        var col = Schema[column];
        if (!col.IsList) throw new ArgumentException($"column '{column}' ({col.TypeDescription}) is not a list column", nameof(column));
        if (col.ClrType != typeof(T)) throw new ArgumentException($"column '{column}' is a list of {col.ClrType.Name} values, not of {typeof(T).Name}", nameof(column));
        long capacity = 0;
        for (int g = 0; g < RowGroupCount; g++) capacity += ValueCount(g, column);
        long elementBytes = typeof(T).IsValueType ? System.Runtime.CompilerServices.Unsafe.SizeOf<T>() : IntPtr.Size;
        if (capacity * (elementBytes + 1) > _options.MaxColumnBytes * Math.Max(1L, RowGroupCount))
            throw ParquetFormatException.At(Name, null, column, null, $"the footer declares {capacity} list entries, over the {_options.MaxColumnBytes} byte limit per row group");
        if (RowCount > int.MaxValue - 1 || capacity > Array.MaxLength)
            throw ParquetFormatException.At(Name, null, column, null, $"{RowCount} rows with up to {capacity} elements do not fit one array; read it row group by row group");
        int rows = (int)RowCount;
        var offsets = reuse != null && reuse.Offsets.Length >= rows + 1 ? reuse.Offsets : new int[rows + 1];
        var values = reuse != null && reuse.Elements.Values.Length >= capacity ? reuse.Elements.Values
            : typeof(T).IsValueType ? GC.AllocateUninitializedArray<T>((int)capacity) : new T[capacity];
        // Every row group decodes straight into the whole-column arrays; null marks go to pooled scratch and are kept only if needed.
        bool[] listValid = [], elemValid = [];
        Pooled.Ensure(ref listValid, rows);
        Pooled.Ensure(ref elemValid, (int)capacity);
        try
        {
            int c = Schema.IndexOf(column), row = 0, elements = 0, nullLists = 0, nullElements = 0;
            for (int g = 0; g < RowGroupCount; g++)
            {
                int n = RowGroupRowCount(g);
                var (reader, meta, offset, length) = LoadChunk(g, c, n);
                var (e, nl, ne) = reader.ReadListInto(g, _chunkBuf, offset, length, meta, n, offsets.AsSpan(row, n + 1), values.AsSpan(elements),
                    listValid.AsSpan(row, n), elemValid.AsSpan(elements), elements);
                row += n;
                elements += e;
                nullLists += nl;
                nullElements += ne;
            }
            offsets[rows] = elements;
            bool[]? validity = null, elementValidity = null;
            if (nullLists > 0)
            {
                validity = reuse?.Validity is { } rv && rv.Length >= rows ? rv : new bool[rows];
                listValid.AsSpan(0, rows).CopyTo(validity);
            }
            if (nullElements > 0)
            {
                elementValidity = reuse?.Elements.Validity is { } ev && ev.Length >= elements ? ev : new bool[elements];
                elemValid.AsSpan(0, elements).CopyTo(elementValidity);
            }
            return new ListColumnData<T>(offsets, new ColumnData<T>(values, elementValidity, elements), validity, rows);
        }
        finally
        {
            Pooled.Return(ref listValid);
            Pooled.Return(ref elemValid);
        }
    }

    private ColumnData Decode<T>(int rowGroup, int column, int rows, ColumnData? old)
    {
        var col = Schema[column];
        var (reader, meta, offset, length) = LoadChunk(rowGroup, column, rows);
        if (col.IsList) return reader.ReadList(rowGroup, _chunkBuf, offset, length, meta, rows, old as ListColumnData<T>);
        var prev = old as ColumnData<T>;
        var values = prev != null && prev.Values.Length >= rows ? prev.Values
            // Every slot is written (nulls get default explicitly), so value arrays skip zeroing.
            : typeof(T).IsValueType ? GC.AllocateUninitializedArray<T>(rows) : new T[rows];
        int nulls = reader.ReadFlat(rowGroup, _chunkBuf, offset, length, meta, values.AsSpan(0, rows), default);
        bool[]? validity = null;
        if (nulls > 0)
        {
            validity = prev?.Validity is { } pv && pv.Length >= rows ? pv : new bool[rows];
            reader.ScratchValidity(rows).CopyTo(validity);
        }
        return new ColumnData<T>(values, validity, rows);
    }

    private void CheckRowGroup(int index)
    {
        if ((uint)index >= (uint)RowGroupCount) throw new ArgumentOutOfRangeException(nameof(index), $"row group {index} does not exist ({RowGroupCount} row groups)");
    }

    /// <summary>Checks one column chunk's metadata against the schema and reads its bytes into the reader's chunk buffer (reused from chunk to chunk).</summary>
    private (ColumnChunkReader Reader, ColumnMetaData Meta, int Offset, int Length) LoadChunk(int index, int columnIndex, int rows)
    {
        var column = Schema[columnIndex];
        if (column.NotSupportedReason != null)
            throw ParquetFormatException.At(Name, index, column.Name, null, column.NotSupportedReason, notSupported: true);
        var chunk = _meta.RowGroups[index].Columns[_leafIndex[columnIndex]];
        var meta = chunk.MetaData ?? throw ParquetFormatException.At(Name, index, column.Name, null, "column chunk has no metadata");
        if (chunk.FilePath != null) throw ParquetFormatException.At(Name, index, column.Name, null, $"column data in another file ({chunk.FilePath}) is not supported", notSupported: true);
        if (meta.Type != column.PhysicalType)
            throw ParquetFormatException.At(Name, index, column.Name, null, $"chunk type {meta.Type} does not match the schema type {column.PhysicalType}");
        if (column.IsList ? meta.NumValues < rows : meta.NumValues != rows)
            throw ParquetFormatException.At(Name, index, column.Name, null, $"chunk holds {meta.NumValues} values, the row group has {rows} rows");
        if (!column.IsList)
        {
            long elemSize = column.ClrType.IsValueType ? (column.PhysicalType switch { PhysicalType.Boolean => 1, PhysicalType.Int32 or PhysicalType.Float => 4, _ => 8 }) : IntPtr.Size;
            if (rows * (elemSize + (column.IsOptional ? 1 : 0)) > _options.MaxColumnBytes)
                throw ParquetFormatException.At(Name, index, column.Name, null, $"row group declares {rows} rows, which would need more than the {_options.MaxColumnBytes} byte limit for one column");
        }
        long start = meta.DataPageOffset;
        if (meta.DictionaryPageOffset is long d && d > 0 && d < start) start = d;
        long len = meta.TotalCompressedSize;
        if (start < 4 || len < 0 || start + len > _footerStart)
            throw ParquetFormatException.At(Name, index, column.Name, null, $"column chunk at offset {start} with {len} bytes lies outside the data region (4..{_footerStart})");
        if (len > _options.MaxChunkBytes)
            throw ParquetFormatException.At(Name, index, column.Name, null, $"column chunk of {len} bytes is over the {_options.MaxChunkBytes} byte limit");
        Pooled.Ensure(ref _chunkBuf, (int)len);
        ReadAt(start, _chunkBuf.AsSpan(0, (int)len));
        var reader = _readers[columnIndex] ??= new ColumnChunkReader(Name, column, _options);
        return (reader, meta, 0, (int)len);
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
                // A group: a LIST of primitives is read; anything else is listed as not supported. Either way its whole
                // subtree is skipped, counting leaves so later columns map to the right chunks.
                int first = leaf;
                int end = SkipSubtree(meta, pos, ref leaf);
                columns.Add(GroupColumn(meta, pos, end, SafeName(e.Name, columns.Count), leaf - first));
                leafIndex.Add(first);
                pos = end;
                continue;
            }
            var primitive = Primitive(e, SafeName(e.Name, columns.Count));
            // A repeated primitive outside any LIST group is a required list of required elements (the format's backward-compatibility rule).
            columns.Add(e.RepetitionType == Repetition.Repeated
                ? ParquetColumn.ListFromFile(primitive.Name, Primitive(e, e.Name, optional: false), optional: false)
                : primitive);
            leafIndex.Add(leaf++);
            pos++;
        }
        if (pos != meta.Schema.Count) throw Error($"schema lists {meta.Schema.Count - 1} elements but its root declares {children} children covering {pos - 1}");
        try { return (new ParquetSchema(columns), leafIndex.ToArray()); }
        catch (ArgumentException ex) { throw Error($"schema: {ex.Message}", ex); }
    }

    private ParquetColumn Primitive(SchemaElement e, string name, bool? optional = null)
    {
        if (e.Type is not PhysicalType t || !Enum.IsDefined(t)) throw Error($"schema element '{e.Name}' has no valid physical type");
        int typeLen = t == PhysicalType.FixedLenByteArray ? e.TypeLength ?? 0 : 0;
        if (t == PhysicalType.FixedLenByteArray && typeLen <= 0) throw Error($"column '{e.Name}' is FIXED_LEN_BYTE_ARRAY without a valid length");
        return new ParquetColumn(string.IsNullOrEmpty(name) ? "element" : name, t, MapLogical(e), optional ?? e.RepetitionType == Repetition.Optional, typeLen);
    }

    /// <summary>
    /// A top-level group spanning schema elements [pos, end): LIST groups whose elements are primitives become list columns
    /// (the standard three-level layout and the legacy two-level one, with the format's backward-compatibility rules);
    /// structs, maps and lists of groups are listed as not supported.
    /// </summary>
    private ParquetColumn GroupColumn(FileMetaData meta, int pos, int end, string name, int leaves)
    {
        var e = meta.Schema[pos];
        bool isList = e.ConvertedType == ConvertedType.List || e.LogicalType?.Kind == 3;
        ParquetColumn Unsupported(string why) =>
            new(name, FirstLeafType(meta, pos) ?? PhysicalType.ByteArray, null, e.RepetitionType != Repetition.Required) { NotSupportedReason = $"column '{e.Name}' {why}" };
        if (!isList)
            return Unsupported(e.ConvertedType is ConvertedType.Map or ConvertedType.MapKeyValue || e.LogicalType?.Kind == 2
                ? "is a map; maps are not supported" : "is a nested (group) column; structs are not supported");
        if (e.RepetitionType == Repetition.Repeated) return Unsupported("is a repeated LIST group; only one level of lists is supported");
        if (e.NumChildren != 1 || leaves != 1) return Unsupported("is a LIST whose elements are groups; only lists of primitive values are supported");
        var repeated = meta.Schema[pos + 1];
        if (repeated.RepetitionType != Repetition.Repeated) return Unsupported("is a LIST group whose child is not repeated");
        bool optional = e.RepetitionType == Repetition.Optional;
        if (repeated.NumChildren is null or 0)
            // Two-level layout: the repeated field is the element itself, never null.
            return ParquetColumn.ListFromFile(name, Primitive(repeated, repeated.Name, optional: false), optional);
        // Legacy writers named a one-field element struct "array" or "<name>_tuple"; such elements are structs, not values.
        if (repeated.NumChildren != 1 || repeated.Name == "array" || repeated.Name == e.Name + "_tuple")
            return Unsupported("is a LIST of structs; only lists of primitive values are supported");
        var element = meta.Schema[pos + 2];
        if (element.NumChildren is > 0 || element.RepetitionType == Repetition.Repeated || pos + 3 != end)
            return Unsupported("is a LIST of lists or structs; only one level of lists of primitive values is supported");
        return ParquetColumn.ListFromFile(name, Primitive(element, element.Name), optional);
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
        foreach (var r in _readers) r?.Release();
        Pooled.Return(ref _chunkBuf);
        if (_ownsStream) _stream.Dispose();
    }
}
