using System.Buffers;
using System.Buffers.Binary;
using Joules.Parquet.Codecs;
using Joules.Parquet.Encodings;
using Joules.Parquet.Format;
using Joules.Parquet.Thrift;

namespace Joules.Parquet;

/// <summary>
/// Encodes one column's slice of rows as a column chunk: optional dictionary page, then v1 data pages (each compressed and
/// written as soon as it is full), with statistics. Primitive columns have one level entry per row; LIST columns one per
/// element, or one for an empty or null list. Scratch buffers are kept from chunk to chunk.
/// </summary>
internal sealed class ColumnChunkWriter
{
    private readonly ParquetColumn _column;
    private readonly ParquetWriteOptions _options;
    private readonly CompressionCodec _codec;
    private readonly RleBitPackedEncoder _rle = new();
    private readonly ArrayBufferWriter<byte> _header = new(256);
    private readonly WriteScratch _s;
    private int _pageLen;
    private FixedCodec? _fixedCodec;

    public ColumnChunkWriter(ParquetColumn column, ParquetWriteOptions options, WriteScratch scratch)
    {
        _column = column;
        _options = options;
        _s = scratch;
        _codec = options.Codec switch
        {
            ParquetCodec.None => CompressionCodec.Uncompressed,
            ParquetCodec.Snappy => CompressionCodec.Snappy,
            ParquetCodec.Gzip => CompressionCodec.Gzip,
            ParquetCodec.Zstd => CompressionCodec.Zstd,
            ParquetCodec.Brotli => CompressionCodec.Brotli,
            ParquetCodec.Lz4Raw => CompressionCodec.Lz4Raw,
            _ => throw new ArgumentOutOfRangeException(nameof(options), $"unknown codec {options.Codec}"),
        };
    }

    /// <summary>Writes rows [start, start+count) of <paramref name="data"/> to <paramref name="output"/> at file offset <paramref name="offset"/>; returns the chunk metadata.</summary>
    public ColumnChunk Write(ColumnData data, int start, int count, Stream output, long offset)
    {
        if (data.ElementType == typeof(byte[]) && _column.PhysicalType == PhysicalType.FixedLenByteArray)
            return WriteTyped<byte[], string>(data, start, count, output, offset, _fixedCodec ??= new FixedCodec(_column.TypeLength));
        return data.ElementType switch
        {
            var t when t == typeof(bool) => WriteTyped(data, start, count, output, offset, BoolCodec.Instance),
            var t when t == typeof(int) => WriteTyped(data, start, count, output, offset, Int32Codec.Instance),
            var t when t == typeof(long) => WriteTyped(data, start, count, output, offset, Int64Codec.Instance),
            var t when t == typeof(float) => WriteTyped(data, start, count, output, offset, FloatCodec.Instance),
            var t when t == typeof(double) => WriteTyped(data, start, count, output, offset, DoubleCodec.Instance),
            var t when t == typeof(string) => WriteTyped(data, start, count, output, offset, StringCodec.Instance),
            var t when t == typeof(byte[]) => WriteTyped(data, start, count, output, offset, BinaryCodec.Instance),
            _ => throw new ArgumentException($"column '{_column.Name}': {data.ElementType.Name} values cannot be written to a {_column.TypeDescription} column"),
        };
    }

    /// <summary>Values of one chunk as the writer walks them: a primitive column's rows or a list column's elements, with their null marks.</summary>
    private readonly ref struct Chunk<T>
    {
        public Chunk(ReadOnlySpan<T> values, ReadOnlySpan<bool> valid) { Values = values; Valid = valid; }
        /// <summary>Rows (primitive) or the chunk's elements (list), indexed from the chunk's first.</summary>
        public readonly ReadOnlySpan<T> Values;
        /// <summary>Null marks parallel to <see cref="Values"/>; empty when nothing is marked null.</summary>
        public readonly ReadOnlySpan<bool> Valid;
    }

    private ColumnChunk WriteTyped<T, TKey>(ColumnData data, int start, int count, Stream output, long offset, PlainCodec<T, TKey> codec) where TKey : notnull
    {
        ListColumnData<T>? list = data as ListColumnData<T>;
        if (list != null && !_column.IsList) throw new ArgumentException($"column '{_column.Name}' ({_column.TypeDescription}) is not a list column; it takes {_column.ClrType.Name} values, not lists");
        if (list == null && _column.IsList) throw new ArgumentException($"column '{_column.Name}' is a list column: give it ListColumnData (ColumnData.FromLists)");
        if (list == null && data is not ColumnData<T>) throw new ArgumentException($"column '{_column.Name}': {data.GetType().Name} cannot be written");
        int first = 0, last = count;
        Chunk<T> chunk;
        if (list != null)
        {
            first = list.Offsets[start];
            last = list.Offsets[start + count];
            if (first < 0 || last > list.Elements.Count || last < first)
                throw new ArgumentException($"column '{_column.Name}': list offsets of rows {start}..{start + count - 1} point outside the {list.Elements.Count} elements given");
            var ev = list.Elements.Validity;
            chunk = new Chunk<T>(list.Elements.Values.AsSpan(first, last - first), ev == null ? default : ev.AsSpan(first, last - first));
            CheckLists(list, start, count, codec);
        }
        else
        {
            var flat = (ColumnData<T>)data;
            var va = flat.Validity;
            chunk = new Chunk<T>(flat.Values.AsSpan(start, count), va == null ? default : va.AsSpan(start, count));
            CheckRequired(chunk, start, codec);
        }

        var stats = new StatsTracker<T, TKey>(codec);
        long chunkStart = offset;
        long uncompressedTotal = 0;
        var encodings = new List<ValueEncoding>();
        long? dictOffset = null;

        // 1. Dictionary over the present values, given up as soon as its page would pass the size limit. Primitive
        //    columns keep every value's index (one int per row); lists look their elements up again page by page.
        DictionaryEncoder<T, TKey>? dict = null;
        bool keepIds = list == null;
        int present = 0;
        if (_options.Dictionary && codec.SupportsDictionary)
        {
            dict = _s.Encoder(codec);
            dict.Reset();
            if (!AddToDictionary(dict, chunk, codec, keepIds, out present)) { dict.Release(); dict = null; }
            else if (present == 0) dict = null; // all null: no dictionary page
        }
        if (dict != null)
        {
            // Statistics over the dictionary entries: every entry occurs in the data.
            stats.AddAll(dict.Entries);
            _pageLen = 0;
            codec.WritePlainSpan(dict.Entries, ref _s.Page, ref _pageLen);
            dictOffset = offset;
            offset += WritePage(output, PageType.DictionaryPage, dict.Entries.Length, ValueEncoding.Plain, ref uncompressedTotal);
            encodings.Add(ValueEncoding.Plain);
            encodings.Add(ValueEncoding.Rle);
            encodings.Add(ValueEncoding.RleDictionary);
        }
        else
        {
            encodings.Add(ValueEncoding.Plain);
            encodings.Add(ValueEncoding.Rle);
        }

        // 2. Data pages, cut at row boundaries; each page's levels and values are built, compressed and written before the next.
        long dataOffset = offset;
        int bitWidth = dict == null ? 0 : Math.Max(1, RleBitPacked.BitWidth(dict.Entries.Length - 1));
        int entriesPerPage = EntriesPerPage(codec, dict != null, bitWidth);
        int maxDef = _column.MaxDefinitionLevel;
        int defWidth = RleBitPacked.BitWidth(maxDef);
        long entries = 0, nulls = 0;
        int row = 0, elem = 0, idPos = 0;
        do
        {
            // Rows of this page and, for lists, how many elements they hold.
            int r1 = row, entriesInPage = 0;
            if (list == null) r1 = Math.Min(count, row + entriesPerPage);
            else
                while (r1 < count && (r1 == row || entriesInPage < entriesPerPage))
                {
                    entriesInPage += Math.Max(1, list.Offsets[start + r1 + 1] - list.Offsets[start + r1]);
                    r1++;
                }
            int e1 = list == null ? r1 : list.Offsets[start + r1] - first;
            var pageValues = chunk.Values.Slice(elem, e1 - elem);
            var pageValid = chunk.Valid.IsEmpty ? default : chunk.Valid.Slice(elem, e1 - elem);
            _pageLen = 0;
            int n = list == null ? FlatPageLevels(pageValues, pageValid, codec, maxDef, defWidth, out int pagePresent)
                : ListPageLevels(list, start + row, start + r1, pageValues, pageValid, codec, defWidth, out pagePresent);
            // The page's present values, densely (the caller's span itself when none is null); not needed for kept indices.
            var dense = dict != null && keepIds ? default : Dense(pageValues, pageValid, codec, out _);
            ValueEncoding enc;
            if (dict != null)
            {
                Span<int> ids;
                if (keepIds) ids = _s.Indices.AsSpan(idPos, pagePresent);
                else
                {
                    ids = _s.PageIndices(pagePresent);
                    dict.Lookup(dense, ids);
                }
                idPos += pagePresent;
                EnsurePage(1);
                _s.Page[_pageLen++] = (byte)bitWidth;
                _rle.Reset();
                _rle.Encode(ids, bitWidth);
                EnsurePage(_rle.Written.Length);
                _rle.Written.CopyTo(_s.Page.AsSpan(_pageLen));
                _pageLen += _rle.Written.Length;
                enc = ValueEncoding.RleDictionary;
            }
            else
            {
                stats.AddAll(dense);
                codec.WritePlainSpan(dense, ref _s.Page, ref _pageLen);
                enc = ValueEncoding.Plain;
            }
            offset += WritePage(output, PageType.DataPage, n, enc, ref uncompressedTotal);
            entries += n;
            nulls += n - pagePresent;
            row = r1;
            elem = e1;
        } while (row < count);

        dict?.Release();
        _s.ClearDense<T>();
        var meta = new ColumnMetaData
        {
            Type = _column.PhysicalType,
            Encodings = encodings,
            PathInSchema = _column.LeafPath.ToList(),
            Codec = _codec,
            NumValues = entries,
            TotalUncompressedSize = uncompressedTotal,
            TotalCompressedSize = offset - chunkStart,
            DataPageOffset = dataOffset,
            DictionaryPageOffset = dictOffset,
            Statistics = stats.ToStatistics(nulls),
        };
        return new ColumnChunk { FileOffset = chunkStart, MetaData = meta };
    }

    /// <summary>Pass 1: adds the chunk's present values to the dictionary (in slices, so no copy of the chunk is needed); false when it overflows.</summary>
    private bool AddToDictionary<T, TKey>(DictionaryEncoder<T, TKey> dict, in Chunk<T> chunk, PlainCodec<T, TKey> codec, bool keepIds, out int present) where TKey : notnull
    {
        present = 0;
        if (keepIds && _s.Indices.Length < chunk.Values.Length) _s.Indices = new int[Math.Max(chunk.Values.Length, 1024)];
        const int Slice = 1 << 14;
        for (int i = 0; i < chunk.Values.Length; i += Slice)
        {
            var part = new Chunk<T>(chunk.Values.Slice(i, Math.Min(Slice, chunk.Values.Length - i)),
                chunk.Valid.IsEmpty ? default : chunk.Valid.Slice(i, Math.Min(Slice, chunk.Values.Length - i)));
            var dense = Dense(part.Values, part.Valid, codec, out int k);
            var ids = keepIds ? _s.Indices.AsSpan(present, k) : _s.PageIndices(k);
            if (!dict.Add(dense, ids, _options.DictionaryPageBytes)) return false;
            present += k;
        }
        return true;
    }

    /// <summary>The present values of <paramref name="values"/>: the span itself when none is null, else a copy in the shared scratch.</summary>
    private ReadOnlySpan<T> Dense<T, TKey>(ReadOnlySpan<T> values, ReadOnlySpan<bool> valid, PlainCodec<T, TKey> codec, out int present) where TKey : notnull
    {
        int firstNull = -1;
        if (!valid.IsEmpty) firstNull = valid.IndexOf(false);
        if (firstNull < 0 && !typeof(T).IsValueType)
            for (int i = 0; i < values.Length; i++) if (codec.IsNullRef(values[i])) { firstNull = i; break; }
        if (firstNull < 0) { present = values.Length; return values; }
        var dense = _s.Dense<T>(values.Length);
        values.Slice(0, firstNull).CopyTo(dense);
        int k = firstNull;
        for (int i = firstNull; i < values.Length; i++)
            if ((valid.IsEmpty || valid[i]) && !codec.IsNullRef(values[i])) dense[k++] = values[i];
        present = k;
        return dense.AsSpan(0, k);
    }

    /// <summary>A required primitive column must hold a value in every row.</summary>
    private void CheckRequired<T, TKey>(in Chunk<T> chunk, int start, PlainCodec<T, TKey> codec) where TKey : notnull
    {
        if (_column.IsOptional) return;
        if (!chunk.Valid.IsEmpty && chunk.Valid.IndexOf(false) is int bad and >= 0) throw new ArgumentException($"column '{_column.Name}' is required but row {start + bad} is null");
        if (!typeof(T).IsValueType)
            for (int i = 0; i < chunk.Values.Length; i++)
                if (codec.IsNullRef(chunk.Values[i])) throw new ArgumentException($"column '{_column.Name}' is required but row {start + i} is null");
    }

    /// <summary>Offsets must not decrease, null lists must be empty and allowed, and null elements allowed.</summary>
    private void CheckLists<T, TKey>(ListColumnData<T> list, int start, int count, PlainCodec<T, TKey> codec) where TKey : notnull
    {
        var offsets = list.Offsets;
        var listValid = list.Validity;
        for (int r = start; r < start + count; r++)
        {
            int a = offsets[r], b = offsets[r + 1];
            if (b < a) throw new ArgumentException($"column '{_column.Name}': list offsets decrease at row {r} ({a} then {b})");
            if (listValid != null && !listValid[r])
            {
                if (!_column.IsOptional) throw new ArgumentException($"column '{_column.Name}' holds required lists but row {r} is null");
                if (b != a) throw new ArgumentException($"column '{_column.Name}': row {r} is a null list but has {b - a} elements");
            }
        }
        if (_column.Element!.IsOptional) return;
        var elements = list.Elements;
        for (int j = offsets[start]; j < offsets[start + count]; j++)
            if (elements.IsNull(j)) throw new ArgumentException($"column '{_column.Name}' holds required elements but element {j} is null");
    }

    /// <summary>A primitive page's definition levels (1 = present), written to the page; returns the page's entry count.</summary>
    private int FlatPageLevels<T, TKey>(ReadOnlySpan<T> values, ReadOnlySpan<bool> valid, PlainCodec<T, TKey> codec, int maxDef, int defWidth, out int present) where TKey : notnull
    {
        int n = values.Length;
        present = n;
        if (maxDef == 0) return n;
        if (typeof(T).IsValueType)
        {
            // Numbers: the validity array is the definition levels; no nulls is one run of ones.
            _rle.Reset();
            if (valid.IsEmpty) _rle.Run(1, n, 1);
            else
            {
                _rle.EncodeBits(valid);
                present = n - System.MemoryExtensions.Count(valid, false);
            }
            WriteRleLevels();
            return n;
        }
        var def = _s.Def(n);
        present = 0;
        for (int i = 0; i < n; i++)
        {
            int d = (valid.IsEmpty || valid[i]) && !codec.IsNullRef(values[i]) ? 1 : 0;
            def[i] = d;
            present += d;
        }
        WriteLevels(def, defWidth);
        return n;
    }

    /// <summary>A list page's repetition and definition levels for rows [r0, r1), written to the page; returns the page's entry count.</summary>
    private int ListPageLevels<T, TKey>(ListColumnData<T> list, int r0, int r1, ReadOnlySpan<T> values, ReadOnlySpan<bool> valid, PlainCodec<T, TKey> codec, int defWidth, out int present) where TKey : notnull
    {
        int cap = values.Length + (r1 - r0);
        var rep = _s.Rep(cap);
        var def = _s.Def(cap);
        int listLevel = _column.ListDefinedLevel, maxDef = _column.MaxDefinitionLevel;
        var listValid = list.Validity;
        int e = 0, k = 0;
        for (int r = r0; r < r1; r++)
        {
            int len = list.Offsets[r + 1] - list.Offsets[r];
            if (listValid != null && !listValid[r]) { rep[e] = 0; def[e++] = 0; continue; }
            if (len == 0) { rep[e] = 0; def[e++] = listLevel; continue; }
            for (int j = 0; j < len; j++, k++)
            {
                rep[e] = j == 0 ? 0 : 1;
                bool has = (valid.IsEmpty || valid[k]) && !codec.IsNullRef(values[k]);
                def[e++] = has ? maxDef : maxDef - 1;
            }
        }
        present = 0;
        foreach (int d in def.Slice(0, e)) if (d == maxDef) present++;
        WriteLevels(rep.Slice(0, e), 1);
        WriteLevels(def.Slice(0, e), defWidth);
        return e;
    }

    private void WriteLevels(ReadOnlySpan<int> levels, int bitWidth)
    {
        _rle.Reset();
        _rle.Encode(levels, bitWidth);
        WriteRleLevels();
    }

    /// <summary>Appends the encoder's output to the page with its 4-byte length prefix (v1 pages).</summary>
    private void WriteRleLevels()
    {
        EnsurePage(4 + _rle.Written.Length);
        BinaryPrimitives.WriteInt32LittleEndian(_s.Page.AsSpan(_pageLen), _rle.Written.Length);
        _rle.Written.CopyTo(_s.Page.AsSpan(_pageLen + 4));
        _pageLen += 4 + _rle.Written.Length;
    }

    private int EntriesPerPage<T, TKey>(PlainCodec<T, TKey> codec, bool dictionary, int bitWidth) where TKey : notnull
    {
        double bytesPerEntry = (dictionary ? Math.Max(bitWidth, 1) / 8.0 : codec.TypicalSize) + (_column.IsList ? 0.25 : 0.125);
        return (int)Math.Clamp(_options.DataPageBytes / bytesPerEntry, 1024, 1 << 20);
    }

    private void EnsurePage(int more)
    {
        if (_pageLen + more > _s.Page.Length) Array.Resize(ref _s.Page, Math.Max(_s.Page.Length * 2, _pageLen + more));
    }

    /// <summary>Compresses the page in the scratch page buffer and writes header and body; returns the bytes written.</summary>
    private int WritePage(Stream output, PageType type, int numValues, ValueEncoding encoding, ref long uncompressedTotal)
    {
        var src = _s.Page.AsSpan(0, _pageLen);
        int clen = Compression.Compress(_codec, src, ref _s.Compressed, _options.CompressionLevel);
        var header = new PageHeader
        {
            Type = type,
            UncompressedPageSize = _pageLen,
            CompressedPageSize = clen,
            NumValues = numValues,
            Encoding = encoding,
        };
        _header.ResetWrittenCount();
        header.Write(new CompactWriter(_header));
        output.Write(_header.WrittenSpan);
        output.Write(_s.Compressed.AsSpan(0, clen));
        uncompressedTotal += _header.WrittenCount + _pageLen;
        return _header.WrittenCount + clen;
    }
}

/// <summary>
/// Buffers the column writers of one file share (they write one chunk at a time): page bytes, levels, dictionary indices,
/// dense values, dictionary tables. Kept in a small pool between files, so writing file after file reuses them.
/// </summary>
internal sealed class WriteScratch
{
    private static readonly System.Collections.Concurrent.ConcurrentBag<WriteScratch> Pool = new();

    /// <summary>A scratch set from the pool, or a new one.</summary>
    public static WriteScratch Take() => Pool.TryTake(out var s) ? s : new WriteScratch();

    /// <summary>Back to the pool (at most two are kept) once its writer is done; it holds none of the caller's values by then.</summary>
    public void Return()
    {
        foreach (var a in _dense.Values) if (a.GetType().GetElementType() is { IsValueType: false }) Array.Clear(a);
        if (Pool.Count < 2) Pool.Add(this);
    }

    public byte[] Page = new byte[1 << 16];
    public byte[] Compressed = new byte[1 << 16];
    /// <summary>One dictionary index per present value of the chunk being written (primitive columns).</summary>
    public int[] Indices = [];
    private int[] _pageIndices = [], _def = [], _rep = [];
    private readonly Dictionary<Type, Array> _dense = new();
    private readonly Dictionary<object, object> _encoders = new(ReferenceEqualityComparer.Instance);

    /// <summary>The dictionary encoder for one value type, shared by the columns of that type (one chunk is encoded at a time).</summary>
    public DictionaryEncoder<T, TKey> Encoder<T, TKey>(PlainCodec<T, TKey> codec) where TKey : notnull
    {
        // Keyed by codec instance: the shared codecs are singletons; a fixed-length column brings its own (its width).
        if (_encoders.TryGetValue(codec, out var e)) return (DictionaryEncoder<T, TKey>)e;
        var made = new DictionaryEncoder<T, TKey>(codec);
        _encoders[codec] = made;
        return made;
    }

    private static Span<int> Take(ref int[] buffer, int n)
    {
        if (buffer.Length < n) buffer = new int[Math.Max(n, 1024)];
        return buffer.AsSpan(0, n);
    }

    public Span<int> PageIndices(int n) => Take(ref _pageIndices, n);
    public Span<int> Def(int n) => Take(ref _def, n);
    public Span<int> Rep(int n) => Take(ref _rep, n);

    public T[] Dense<T>(int n)
    {
        if (_dense.TryGetValue(typeof(T), out var a) && a.Length >= n) return (T[])a;
        var made = new T[Math.Max(n, 1024)];
        _dense[typeof(T)] = made;
        return made;
    }

    /// <summary>Drops references to the caller's strings once a chunk is written.</summary>
    public void ClearDense<T>()
    {
        if (!typeof(T).IsValueType && _dense.TryGetValue(typeof(T), out var a)) Array.Clear(a);
    }
}
