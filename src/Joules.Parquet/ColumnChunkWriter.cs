using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using Joules.Parquet.Codecs;
using Joules.Parquet.Encodings;
using Joules.Parquet.Format;
using Joules.Parquet.Thrift;

namespace Joules.Parquet;

/// <summary>Encodes one column's slice of rows as a column chunk: optional dictionary page, then v1 data pages, with statistics.</summary>
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
    private int[] _levels = [];
    private int[] _indices = [];

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
        return data switch
        {
            ColumnData<bool> d => WriteTyped(d, start, count, output, offset, BoolCodec.Instance),
            ColumnData<int> d => WriteTyped(d, start, count, output, offset, Int32Codec.Instance),
            ColumnData<long> d => WriteTyped(d, start, count, output, offset, Int64Codec.Instance),
            ColumnData<float> d => WriteTyped(d, start, count, output, offset, FloatCodec.Instance),
            ColumnData<double> d => WriteTyped(d, start, count, output, offset, DoubleCodec.Instance),
            ColumnData<string> d => WriteTyped(d, start, count, output, offset, StringCodec.Instance),
            ColumnData<byte[]> d when _column.PhysicalType == PhysicalType.FixedLenByteArray => WriteTyped(d, start, count, output, offset, new FixedCodec(_column.TypeLength)),
            ColumnData<byte[]> d => WriteTyped(d, start, count, output, offset, BinaryCodec.Instance),
            _ => throw new ArgumentException($"column '{_column.Name}': {data.ElementType.Name} values cannot be written to a {_column.TypeDescription} column"),
        };
    }

    private ColumnChunk WriteTyped<T, TKey>(ColumnData<T> data, int start, int count, Stream output, long offset, PlainCodec<T, TKey> codec) where TKey : notnull
    {
        var values = data.Values.AsSpan(start, count);
        var validity = data.Validity is { } va ? va.AsSpan(start, count) : default;
        bool optional = _column.IsOptional;

        // Definition levels (1 = present) and the dense list of present values' row positions.
        if (_levels.Length < count) _levels = new int[count];
        int nonNull = 0;
        long nullCount = 0;
        for (int i = 0; i < count; i++)
        {
            bool present = (validity.IsEmpty || validity[i]) && !codec.IsNullRef(values[i]);
            if (!present && !optional) throw new ArgumentException($"column '{_column.Name}' is required but row {start + i} is null");
            _levels[i] = present ? 1 : 0;
            if (present) nonNull++; else nullCount++;
        }

        var stats = new StatsTracker<T, TKey>(codec);
        long chunkStart = offset;
        long uncompressedTotal = 0;
        var encodings = new List<ValueEncoding>();
        long? dictOffset = null;

        // Dictionary attempt: give up as soon as the dictionary page would pass its size limit.
        Dictionary<TKey, int>? dict = null;
        List<T>? dictValues = null;
        if (_options.Dictionary && codec.SupportsDictionary)
        {
            dict = new Dictionary<TKey, int>();
            dictValues = new List<T>();
            long dictBytes = 0;
            if (_indices.Length < count) _indices = new int[count];
            int k = 0;
            for (int i = 0; i < count; i++)
            {
                if (_levels[i] == 0) continue;
                var v = values[i];
                var key = codec.Key(v);
                if (!dict.TryGetValue(key, out int id))
                {
                    id = dict.Count;
                    dict.Add(key, id);
                    dictValues.Add(v);
                    dictBytes += codec.PlainSize(v);
                    if (dictBytes > _options.DictionaryPageBytes) { dict = null; dictValues = null; break; }
                }
                _indices[k++] = id;
            }
        }

        if (dictValues is { Count: 0 }) { dict = null; dictValues = null; } // all null: no dictionary page
        if (dict != null && dictValues != null)
        {
            // Statistics over the dictionary entries: every entry occurs in the data.
            foreach (var v in dictValues) stats.Add(v);
            _pageLen = 0;
            foreach (var v in dictValues) codec.WritePlain(v, ref _page, ref _pageLen);
            dictOffset = offset;
            offset += WritePage(output, PageType.DictionaryPage, dictValues.Count, ValueEncoding.Plain, ref uncompressedTotal);
            encodings.Add(ValueEncoding.Plain);
            encodings.Add(ValueEncoding.Rle);
            encodings.Add(ValueEncoding.RleDictionary);
        }
        else
        {
            for (int i = 0; i < count; i++) if (_levels[i] != 0) stats.Add(values[i]);
            encodings.Add(ValueEncoding.Plain);
            encodings.Add(ValueEncoding.Rle);
        }

        long dataOffset = offset;
        int bitWidth = dictValues == null ? 0 : Math.Max(1, RleBitPacked.BitWidth(dictValues.Count - 1));
        int rowsPerPage = RowsPerPage(codec, dictValues != null, bitWidth);
        int idx = 0; // position in _indices (dense, present values only)
        for (int p = 0; p < count || (p == 0 && count == 0); p += rowsPerPage)
        {
            int n = Math.Min(rowsPerPage, count - p);
            _pageLen = 0;
            if (optional)
            {
                _rle.Reset();
                _rle.Encode(_levels.AsSpan(p, n), 1);
                EnsurePage(4 + _rle.Written.Length);
                BinaryPrimitives.WriteInt32LittleEndian(_page.AsSpan(_pageLen), _rle.Written.Length);
                _rle.Written.CopyTo(_page.AsSpan(_pageLen + 4));
                _pageLen += 4 + _rle.Written.Length;
            }
            int present = 0;
            for (int i = p; i < p + n; i++) present += _levels[i];
            ValueEncoding enc;
            if (dictValues != null)
            {
                EnsurePage(1);
                _page[_pageLen++] = (byte)bitWidth;
                _rle.Reset();
                _rle.Encode(_indices.AsSpan(idx, present), bitWidth);
                EnsurePage(_rle.Written.Length);
                _rle.Written.CopyTo(_page.AsSpan(_pageLen));
                _pageLen += _rle.Written.Length;
                idx += present;
                enc = ValueEncoding.RleDictionary;
            }
            else
            {
                if (optional)
                {
                    var dense = ArrayPool<T>.Shared.Rent(Math.Max(present, 1));
                    int k = 0;
                    for (int i = p; i < p + n; i++) if (_levels[i] != 0) dense[k++] = values[i];
                    codec.WritePlainSpan(dense.AsSpan(0, k), ref _page, ref _pageLen);
                    ArrayPool<T>.Shared.Return(dense, clearArray: !typeof(T).IsValueType);
                }
                else codec.WritePlainSpan(values.Slice(p, n), ref _page, ref _pageLen);
                enc = ValueEncoding.Plain;
            }
            offset += WritePage(output, PageType.DataPage, n, enc, ref uncompressedTotal);
            if (count == 0) break;
        }

        var meta = new ColumnMetaData
        {
            Type = _column.PhysicalType,
            Encodings = encodings,
            PathInSchema = [_column.Name],
            Codec = _codec,
            NumValues = count,
            TotalUncompressedSize = uncompressedTotal,
            TotalCompressedSize = offset - chunkStart,
            DataPageOffset = dataOffset,
            DictionaryPageOffset = dictOffset,
            Statistics = stats.ToStatistics(nullCount),
        };
        return new ColumnChunk { FileOffset = chunkStart, MetaData = meta };
    }

    private int RowsPerPage<T, TKey>(PlainCodec<T, TKey> codec, bool dictionary, int bitWidth) where TKey : notnull
    {
        double bytesPerRow = dictionary ? Math.Max(bitWidth, 1) / 8.0 + 0.125 : codec.TypicalSize + 0.125;
        return (int)Math.Clamp(_options.DataPageBytes / bytesPerRow, 1024, 1 << 20);
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

/// <summary>Per-type PLAIN encoding, dictionary keys and statistic ordering used by the writer.</summary>
internal abstract class PlainCodec<T, TKey> where TKey : notnull
{
    public virtual bool SupportsDictionary => true;
    public abstract TKey Key(T value);
    public abstract int PlainSize(T value);
    public abstract double TypicalSize { get; }
    public virtual bool IsNullRef(T value) => false;
    public abstract void WritePlain(T value, ref byte[] buf, ref int len);
    public virtual void WritePlainSpan(ReadOnlySpan<T> values, ref byte[] buf, ref int len)
    {
        foreach (var v in values) WritePlain(v, ref buf, ref len);
    }
    /// <summary>Order for min/max; values where <see cref="Skip"/> is true (NaN) are left out.</summary>
    public abstract int Compare(T a, T b);
    public virtual bool Skip(T value) => false;
    public abstract byte[] StatBytes(T value);
    /// <summary>Whether the deprecated signed-order min/max fields may carry the same values.</summary>
    public virtual bool LegacyStats => true;

    protected static void Ensure(ref byte[] buf, int len, int more)
    {
        if (len + more > buf.Length) Array.Resize(ref buf, Math.Max(buf.Length * 2, len + more));
    }
}

internal abstract class FixedPlainCodec<T> : PlainCodec<T, T> where T : unmanaged, IComparable<T>
{
    public override T Key(T value) => value;
    public override unsafe int PlainSize(T value) => sizeof(T);
    public override unsafe double TypicalSize => sizeof(T);
    public override unsafe void WritePlain(T value, ref byte[] buf, ref int len)
    {
        Ensure(ref buf, len, sizeof(T));
        MemoryMarshal.Write(buf.AsSpan(len), in value);
        len += sizeof(T);
    }
    public override unsafe void WritePlainSpan(ReadOnlySpan<T> values, ref byte[] buf, ref int len)
    {
        var bytes = MemoryMarshal.AsBytes(values);
        Ensure(ref buf, len, bytes.Length);
        bytes.CopyTo(buf.AsSpan(len));
        len += bytes.Length;
    }
    public override int Compare(T a, T b) => a.CompareTo(b);
    public override unsafe byte[] StatBytes(T value)
    {
        var b = new byte[sizeof(T)];
        MemoryMarshal.Write(b, in value);
        return b;
    }
}

internal sealed class Int32Codec : FixedPlainCodec<int> { public static readonly Int32Codec Instance = new(); }
internal sealed class Int64Codec : FixedPlainCodec<long> { public static readonly Int64Codec Instance = new(); }

internal sealed class FloatCodec : FixedPlainCodec<float>
{
    public static readonly FloatCodec Instance = new();
    public override bool Skip(float value) => float.IsNaN(value);
}

/// <summary>Doubles: dictionary keys by bit pattern, so NaN and -0.0 stay distinct values.</summary>
internal sealed class DoubleCodec : PlainCodec<double, long>
{
    public static readonly DoubleCodec Instance = new();
    public override long Key(double value) => BitConverter.DoubleToInt64Bits(value);
    public override int PlainSize(double value) => 8;
    public override double TypicalSize => 8;
    public override void WritePlain(double value, ref byte[] buf, ref int len)
    {
        Ensure(ref buf, len, 8);
        BinaryPrimitives.WriteDoubleLittleEndian(buf.AsSpan(len), value);
        len += 8;
    }
    public override void WritePlainSpan(ReadOnlySpan<double> values, ref byte[] buf, ref int len)
    {
        var bytes = MemoryMarshal.AsBytes(values);
        Ensure(ref buf, len, bytes.Length);
        bytes.CopyTo(buf.AsSpan(len));
        len += bytes.Length;
    }
    public override int Compare(double a, double b) => a.CompareTo(b);
    public override bool Skip(double value) => double.IsNaN(value);
    public override byte[] StatBytes(double value) => BitConverter.GetBytes(value);
}

internal sealed class BoolCodec : PlainCodec<bool, bool>
{
    public static readonly BoolCodec Instance = new();
    public override bool SupportsDictionary => false;
    public override bool Key(bool value) => value;
    public override int PlainSize(bool value) => 1;
    public override double TypicalSize => 0.125;
    public override void WritePlain(bool value, ref byte[] buf, ref int len) => throw new InvalidOperationException("booleans are bit-packed per page");
    public override void WritePlainSpan(ReadOnlySpan<bool> values, ref byte[] buf, ref int len)
    {
        int bytes = (values.Length + 7) / 8;
        Ensure(ref buf, len, bytes);
        var dst = buf.AsSpan(len, bytes);
        dst.Clear();
        for (int i = 0; i < values.Length; i++) if (values[i]) dst[i >> 3] |= (byte)(1 << (i & 7));
        len += bytes;
    }
    public override int Compare(bool a, bool b) => a.CompareTo(b);
    public override byte[] StatBytes(bool value) => [value ? (byte)1 : (byte)0];
}

/// <summary>Strings go out as UTF-8; statistics compare the UTF-8 bytes unsigned, as the format's ordering says.</summary>
internal sealed class StringCodec : PlainCodec<string, string>
{
    public static readonly StringCodec Instance = new();
    public override string Key(string value) => value;
    public override int PlainSize(string value) => 4 + System.Text.Encoding.UTF8.GetByteCount(value);
    public override double TypicalSize => 16;
    public override bool IsNullRef(string value) => value is null;
    public override void WritePlain(string value, ref byte[] buf, ref int len)
    {
        int max = System.Text.Encoding.UTF8.GetMaxByteCount(value.Length);
        Ensure(ref buf, len, 4 + max);
        int n = System.Text.Encoding.UTF8.GetBytes(value, buf.AsSpan(len + 4));
        BinaryPrimitives.WriteInt32LittleEndian(buf.AsSpan(len), n);
        len += 4 + n;
    }
    public override int Compare(string a, string b)
    {
        // Ordinal UTF-16 order differs from UTF-8 byte order only around surrogates; compare bytes then.
        int c = string.CompareOrdinal(a, b);
        if (c == 0) return 0;
        if (!HasSurrogate(a) && !HasSurrogate(b)) return c;
        return System.Text.Encoding.UTF8.GetBytes(a).AsSpan().SequenceCompareTo(System.Text.Encoding.UTF8.GetBytes(b));
    }
    private static bool HasSurrogate(string s)
    {
        foreach (char ch in s) if (char.IsSurrogate(ch)) return true;
        return false;
    }
    public override byte[] StatBytes(string value) => System.Text.Encoding.UTF8.GetBytes(value);
    public override bool LegacyStats => false;
}

internal sealed class BinaryCodec : PlainCodec<byte[], string>
{
    public static readonly BinaryCodec Instance = new();
    // Latin-1 style widening keeps keys exact and hashing cheap.
    public override string Key(byte[] value) => System.Text.Encoding.Latin1.GetString(value);
    public override int PlainSize(byte[] value) => 4 + value.Length;
    public override double TypicalSize => 16;
    public override bool IsNullRef(byte[] value) => value is null;
    public override void WritePlain(byte[] value, ref byte[] buf, ref int len)
    {
        Ensure(ref buf, len, 4 + value.Length);
        BinaryPrimitives.WriteInt32LittleEndian(buf.AsSpan(len), value.Length);
        value.CopyTo(buf.AsSpan(len + 4));
        len += 4 + value.Length;
    }
    public override int Compare(byte[] a, byte[] b) => a.AsSpan().SequenceCompareTo(b);
    public override byte[] StatBytes(byte[] value) => value;
    public override bool LegacyStats => false;
}

internal sealed class FixedCodec : PlainCodec<byte[], string>
{
    private readonly int _width;
    public FixedCodec(int width) => _width = width;
    public override string Key(byte[] value) => System.Text.Encoding.Latin1.GetString(value);
    public override int PlainSize(byte[] value) => _width;
    public override double TypicalSize => _width;
    public override bool IsNullRef(byte[] value) => value is null;
    public override void WritePlain(byte[] value, ref byte[] buf, ref int len)
    {
        if (value.Length != _width) throw new ArgumentException($"fixed-length value has {value.Length} bytes, the column needs {_width}");
        Ensure(ref buf, len, _width);
        value.CopyTo(buf.AsSpan(len));
        len += _width;
    }
    public override int Compare(byte[] a, byte[] b) => a.AsSpan().SequenceCompareTo(b);
    public override byte[] StatBytes(byte[] value) => value;
    public override bool LegacyStats => false;
}

/// <summary>Running min and max of a column chunk.</summary>
internal struct StatsTracker<T, TKey> where TKey : notnull
{
    private readonly PlainCodec<T, TKey> _codec;
    private T _min, _max;
    private bool _any;

    public StatsTracker(PlainCodec<T, TKey> codec)
    {
        _codec = codec;
        _min = default!;
        _max = default!;
        _any = false;
    }

    public void Add(T v)
    {
        if (_codec.Skip(v)) return;
        if (!_any) { _min = _max = v; _any = true; return; }
        if (_codec.Compare(v, _min) < 0) _min = v;
        if (_codec.Compare(v, _max) > 0) _max = v;
    }

    public Statistics ToStatistics(long nullCount)
    {
        var s = new Statistics { NullCount = nullCount };
        if (!_any) return s;
        T min = _min, max = _max;
        // The format asks for -0.0 as a minimum zero and +0.0 as a maximum zero.
        if (min is double dmin && dmin == 0) min = (T)(object)(-0.0);
        if (max is double dmax && dmax == 0) max = (T)(object)0.0;
        if (min is float fmin && fmin == 0) min = (T)(object)(-0.0f);
        if (max is float fmax && fmax == 0) max = (T)(object)0.0f;
        s.MinValue = _codec.StatBytes(min);
        s.MaxValue = _codec.StatBytes(max);
        if (_codec.LegacyStats) { s.Min = s.MinValue; s.Max = s.MaxValue; }
        return s;
    }
}
