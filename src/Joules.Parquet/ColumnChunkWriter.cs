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
    private byte[] _page = new byte[1 << 16];
    private int _pageLen;
    private byte[] _compressed = new byte[1 << 16];
    private int[] _def = [], _rep = [], _indices = [];
    private Array? _dense;
    private object? _dictionary;

    public ColumnChunkWriter(ParquetColumn column, ParquetWriteOptions options)
    {
        _column = column;
        _options = options;
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
            return WriteTyped<byte[], string>(data, start, count, output, offset, new FixedCodec(_column.TypeLength));
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

    private T[] Dense<T>(int n)
    {
        if (_dense is T[] d && d.Length >= n) return d;
        var a = new T[Math.Max(n, 1024)];
        _dense = a;
        return a;
    }

    private ColumnChunk WriteTyped<T, TKey>(ColumnData data, int start, int count, Stream output, long offset, PlainCodec<T, TKey> codec) where TKey : notnull
    {
        // 1. Levels and the values actually present, densely (a copy only where nulls or lists make it necessary).
        int entries;
        ReadOnlySpan<T> dense;
        bool gathered;
        if (data is ListColumnData<T> list)
        {
            if (!_column.IsList) throw new ArgumentException($"column '{_column.Name}' ({_column.TypeDescription}) is not a list column; it takes {_column.ClrType.Name} values, not lists");
            dense = ListLevels(list, start, count, codec, out entries);
            gathered = true;
        }
        else if (data is ColumnData<T> flat)
        {
            if (_column.IsList) throw new ArgumentException($"column '{_column.Name}' is a list column: give it ListColumnData (ColumnData.FromLists)");
            entries = count;
            dense = FlatLevels(flat, start, count, codec, out gathered);
        }
        else throw new ArgumentException($"column '{_column.Name}': {data.GetType().Name} cannot be written");
        int maxDef = _column.MaxDefinitionLevel;
        long nullCount = entries - dense.Length;

        var stats = new StatsTracker<T, TKey>(codec);
        long chunkStart = offset;
        long uncompressedTotal = 0;
        var encodings = new List<ValueEncoding>();
        long? dictOffset = null;

        // 2. Dictionary attempt: given up as soon as the dictionary page would pass its size limit.
        DictionaryEncoder<T, TKey>? dict = null;
        if (_options.Dictionary && codec.SupportsDictionary && dense.Length > 0)
        {
            dict = _dictionary as DictionaryEncoder<T, TKey> ?? new DictionaryEncoder<T, TKey>(codec);
            _dictionary = dict;
            if (_indices.Length < dense.Length) _indices = new int[Math.Max(dense.Length, 1024)];
            if (!dict.Encode(dense, _indices.AsSpan(0, dense.Length), _options.DictionaryPageBytes)) { dict.Release(); dict = null; }
        }
        if (dict != null)
        {
            // Statistics over the dictionary entries: every entry occurs in the data.
            stats.AddAll(dict.Entries);
            _pageLen = 0;
            codec.WritePlainSpan(dict.Entries, ref _page, ref _pageLen);
            dictOffset = offset;
            offset += WritePage(output, PageType.DictionaryPage, dict.Entries.Length, ValueEncoding.Plain, ref uncompressedTotal);
            encodings.Add(ValueEncoding.Plain);
            encodings.Add(ValueEncoding.Rle);
            encodings.Add(ValueEncoding.RleDictionary);
        }
        else
        {
            stats.AddAll(dense);
            encodings.Add(ValueEncoding.Plain);
            encodings.Add(ValueEncoding.Rle);
        }

        // 3. Data pages, cut at row boundaries, each compressed and written before the next is encoded.
        long dataOffset = offset;
        int bitWidth = dict == null ? 0 : Math.Max(1, RleBitPacked.BitWidth(dict.Entries.Length - 1));
        int entriesPerPage = EntriesPerPage(codec, dict != null, bitWidth);
        int defWidth = RleBitPacked.BitWidth(maxDef);
        int e0 = 0, v0 = 0;
        do
        {
            int e1 = Math.Min(entries, e0 + entriesPerPage);
            if (_column.IsList) while (e1 < entries && _rep[e1] != 0) e1++;
            int n = e1 - e0;
            int present = n;
            _pageLen = 0;
            if (_column.IsList) WriteLevels(_rep.AsSpan(e0, n), 1);
            if (maxDef > 0)
            {
                var def = _def.AsSpan(e0, n);
                WriteLevels(def, defWidth);
                present = 0;
                foreach (int d in def) if (d == maxDef) present++;
            }
            ValueEncoding enc;
            if (dict != null)
            {
                EnsurePage(1);
                _page[_pageLen++] = (byte)bitWidth;
                _rle.Reset();
                _rle.Encode(_indices.AsSpan(v0, present), bitWidth);
                EnsurePage(_rle.Written.Length);
                _rle.Written.CopyTo(_page.AsSpan(_pageLen));
                _pageLen += _rle.Written.Length;
                enc = ValueEncoding.RleDictionary;
            }
            else
            {
                codec.WritePlainSpan(dense.Slice(v0, present), ref _page, ref _pageLen);
                enc = ValueEncoding.Plain;
            }
            offset += WritePage(output, PageType.DataPage, n, enc, ref uncompressedTotal);
            e0 = e1;
            v0 += present;
        } while (e0 < entries);

        dict?.Release();
        if (gathered && !typeof(T).IsValueType) Array.Clear(_dense!, 0, dense.Length); // drop references to the caller's strings
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
            Statistics = stats.ToStatistics(nullCount),
        };
        return new ColumnChunk { FileOffset = chunkStart, MetaData = meta };
    }

    /// <summary>Definition levels of a primitive column (1 = present) and its present values: the caller's span itself when nothing is null.</summary>
    private ReadOnlySpan<T> FlatLevels<T, TKey>(ColumnData<T> data, int start, int count, PlainCodec<T, TKey> codec, out bool gathered) where TKey : notnull
    {
        gathered = false;
        var values = data.Values.AsSpan(start, count);
        var validity = data.Validity is { } va ? va.AsSpan(start, count) : default;
        bool optional = _column.IsOptional;
        if (!optional)
        {
            // A required column takes no levels; every row must hold a value.
            if (!validity.IsEmpty && validity.IndexOf(false) is int bad and >= 0) throw new ArgumentException($"column '{_column.Name}' is required but row {start + bad} is null");
            if (!typeof(T).IsValueType)
                for (int i = 0; i < count; i++)
                    if (codec.IsNullRef(values[i])) throw new ArgumentException($"column '{_column.Name}' is required but row {start + i} is null");
            return values;
        }
        if (_def.Length < count) _def = new int[Math.Max(count, 1024)];
        var def = _def.AsSpan(0, count);
        int present = 0;
        if (validity.IsEmpty && typeof(T).IsValueType)
        {
            def.Fill(1);
            return values;
        }
        for (int i = 0; i < count; i++)
        {
            bool has = (validity.IsEmpty || validity[i]) && !codec.IsNullRef(values[i]);
            def[i] = has ? 1 : 0;
            present += has ? 1 : 0;
        }
        if (present == count) return values;
        var dense = Dense<T>(present);
        int k = 0;
        for (int i = 0; i < count; i++) if (def[i] != 0) dense[k++] = values[i];
        gathered = true;
        return dense.AsSpan(0, present);
    }

    /// <summary>Repetition and definition levels of rows [start, start+count) of a list column, and its present elements densely.</summary>
    private ReadOnlySpan<T> ListLevels<T, TKey>(ListColumnData<T> list, int start, int count, PlainCodec<T, TKey> codec, out int entries) where TKey : notnull
    {
        var offsets = list.Offsets;
        var elements = list.Elements;
        int first = offsets[start], last = offsets[start + count];
        if (first < 0 || last > elements.Count || last < first)
            throw new ArgumentException($"column '{_column.Name}': list offsets of rows {start}..{start + count - 1} point outside the {elements.Count} elements given");
        // Entries: one per element, one per empty or null list.
        long upper = (long)(last - first) + count;
        if (upper > int.MaxValue) throw new ArgumentException($"column '{_column.Name}': {upper} level entries in one row group; write fewer rows per row group");
        int cap = (int)upper;
        if (_def.Length < cap) _def = new int[Math.Max(cap, 1024)];
        if (_rep.Length < cap) _rep = new int[Math.Max(cap, 1024)];
        var dense = Dense<T>(last - first);
        int listLevel = _column.ListDefinedLevel, maxDef = _column.MaxDefinitionLevel;
        bool optionalList = _column.IsOptional, optionalElements = _column.Element!.IsOptional;
        var listValid = list.Validity;
        var elemValid = elements.Validity;
        var values = elements.Values;
        int e = 0, k = 0;
        for (int r = start; r < start + count; r++)
        {
            int a = offsets[r], b = offsets[r + 1];
            if (b < a) throw new ArgumentException($"column '{_column.Name}': list offsets decrease at row {r} ({a} then {b})");
            if (listValid != null && !listValid[r])
            {
                if (!optionalList) throw new ArgumentException($"column '{_column.Name}' holds required lists but row {r} is null");
                if (b != a) throw new ArgumentException($"column '{_column.Name}': row {r} is a null list but has {b - a} elements");
                _rep[e] = 0; _def[e++] = 0;
                continue;
            }
            if (a == b)
            {
                _rep[e] = 0; _def[e++] = listLevel;
                continue;
            }
            for (int j = a; j < b; j++)
            {
                bool has = (elemValid == null || elemValid[j]) && !codec.IsNullRef(values[j]);
                if (!has && !optionalElements) throw new ArgumentException($"column '{_column.Name}' holds required elements but element {j - a} of row {r} is null");
                _rep[e] = j == a ? 0 : 1;
                _def[e++] = has ? maxDef : maxDef - 1;
                if (has) dense[k++] = values[j];
            }
        }
        entries = e;
        return dense.AsSpan(0, k);
    }

    private void WriteLevels(ReadOnlySpan<int> levels, int bitWidth)
    {
        _rle.Reset();
        _rle.Encode(levels, bitWidth);
        EnsurePage(4 + _rle.Written.Length);
        BinaryPrimitives.WriteInt32LittleEndian(_page.AsSpan(_pageLen), _rle.Written.Length);
        _rle.Written.CopyTo(_page.AsSpan(_pageLen + 4));
        _pageLen += 4 + _rle.Written.Length;
    }

    private int EntriesPerPage<T, TKey>(PlainCodec<T, TKey> codec, bool dictionary, int bitWidth) where TKey : notnull
    {
        double bytesPerEntry = (dictionary ? Math.Max(bitWidth, 1) / 8.0 : codec.TypicalSize) + (_column.IsList ? 0.25 : 0.125);
        return (int)Math.Clamp(_options.DataPageBytes / bytesPerEntry, 1024, 1 << 20);
    }

    private void EnsurePage(int more)
    {
        if (_pageLen + more > _page.Length) Array.Resize(ref _page, Math.Max(_page.Length * 2, _pageLen + more));
    }

    /// <summary>Compresses the page in <see cref="_page"/> and writes header and body; returns the bytes written.</summary>
    private int WritePage(Stream output, PageType type, int numValues, ValueEncoding encoding, ref long uncompressedTotal)
    {
        var src = _page.AsSpan(0, _pageLen);
        int clen = Compression.Compress(_codec, src, ref _compressed, _options.CompressionLevel);
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
        output.Write(_compressed.AsSpan(0, clen));
        uncompressedTotal += _header.WrittenCount + _pageLen;
        return _header.WrittenCount + clen;
    }
}
