using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using Joules.Parquet.Format;

namespace Joules.Parquet.Encodings;

/// <summary>Decodes the non-null values of one page of one physical type into a typed span, for every value encoding of that type.</summary>
internal abstract class ValueDecoder<T>
{
    protected readonly ByteArrayBuffer Bytes = new();

    /// <summary>Decodes PLAIN values into <paramref name="dst"/>; returns bytes consumed.</summary>
    public abstract int DecodePlain(ReadOnlySpan<byte> data, Span<T> dst);

    public virtual void Decode(ValueEncoding encoding, ReadOnlySpan<byte> data, Span<T> dst)
    {
        switch (encoding)
        {
            case ValueEncoding.Plain: DecodePlain(data, dst); break;
            default: DecodeOther(encoding, data, dst); break;
        }
    }

    protected virtual void DecodeOther(ValueEncoding encoding, ReadOnlySpan<byte> data, Span<T> dst) => throw Unsupported(encoding);

    protected static ParquetFormatException Unsupported(ValueEncoding e) =>
        new($"encoding {e} is not valid for this column type") { IsNotSupported = false };

    protected static ParquetFormatException Short(int need, int have) => new($"page holds {have} bytes of values, {need} needed");

    /// <summary>BYTE_STREAM_SPLIT: byte k of value i sits at k * count + i.</summary>
    protected static void Unsplit(ReadOnlySpan<byte> data, int width, Span<byte> dst, int count)
    {
        if ((long)width * count > data.Length) throw Short(width * count, data.Length);
        for (int k = 0; k < width; k++)
        {
            var stream = data.Slice(k * count, count);
            for (int i = 0; i < count; i++) dst[i * width + k] = stream[i];
        }
    }
}

/// <summary>BOOLEAN values: bit-packed PLAIN or length-prefixed RLE.</summary>
internal sealed class BooleanDecoder : ValueDecoder<bool>
{
    private int[] _scratch = [];

    public override int DecodePlain(ReadOnlySpan<byte> data, Span<bool> dst)
    {
        int bytes = (dst.Length + 7) / 8;
        if (bytes > data.Length) throw Short(bytes, data.Length);
        for (int i = 0; i < dst.Length; i++) dst[i] = (data[i >> 3] >> (i & 7) & 1) != 0;
        return bytes;
    }

    protected override void DecodeOther(ValueEncoding encoding, ReadOnlySpan<byte> data, Span<bool> dst)
    {
        if (encoding != ValueEncoding.Rle) throw Unsupported(encoding);
        if (data.Length < 4) throw Short(4, data.Length);
        int len = BinaryPrimitives.ReadInt32LittleEndian(data);
        if (len < 0 || len > data.Length - 4) throw new ParquetFormatException($"RLE boolean length {len} past the end of the page");
        if (_scratch.Length < dst.Length) _scratch = new int[dst.Length];
        RleBitPacked.Decode(data.Slice(4, len), 1, _scratch.AsSpan(0, dst.Length));
        for (int i = 0; i < dst.Length; i++) dst[i] = _scratch[i] != 0;
    }
}

/// <summary>Fixed-width numeric types share PLAIN (a memory copy) and BYTE_STREAM_SPLIT.</summary>
internal abstract class FixedWidthDecoder<T> : ValueDecoder<T> where T : unmanaged
{
    public override unsafe int DecodePlain(ReadOnlySpan<byte> data, Span<T> dst)
    {
        int bytes = checked(dst.Length * sizeof(T));
        if (bytes > data.Length) throw Short(bytes, data.Length);
        data.Slice(0, bytes).CopyTo(MemoryMarshal.AsBytes(dst));
        return bytes;
    }

    protected override unsafe void DecodeOther(ValueEncoding encoding, ReadOnlySpan<byte> data, Span<T> dst)
    {
        if (encoding == ValueEncoding.ByteStreamSplit)
        {
            Unsplit(data, sizeof(T), MemoryMarshal.AsBytes(dst), dst.Length);
            return;
        }
        DecodeInteger(encoding, data, dst);
    }

    protected virtual void DecodeInteger(ValueEncoding encoding, ReadOnlySpan<byte> data, Span<T> dst) => throw Unsupported(encoding);
}

/// <summary>INT32 values, including DELTA_BINARY_PACKED.</summary>
internal sealed class Int32Decoder : FixedWidthDecoder<int>
{
    private long[] _scratch = [];

    protected override void DecodeInteger(ValueEncoding encoding, ReadOnlySpan<byte> data, Span<int> dst)
    {
        if (encoding != ValueEncoding.DeltaBinaryPacked) throw Unsupported(encoding);
        if (_scratch.Length < dst.Length) _scratch = new long[dst.Length];
        Delta.DecodeInt64(data, _scratch.AsSpan(0, dst.Length), out _);
        for (int i = 0; i < dst.Length; i++) dst[i] = unchecked((int)_scratch[i]);
    }
}

/// <summary>INT64 values, including DELTA_BINARY_PACKED.</summary>
internal sealed class Int64Decoder : FixedWidthDecoder<long>
{
    protected override void DecodeInteger(ValueEncoding encoding, ReadOnlySpan<byte> data, Span<long> dst)
    {
        if (encoding != ValueEncoding.DeltaBinaryPacked) throw Unsupported(encoding);
        Delta.DecodeInt64(data, dst, out _);
    }
}

/// <summary>FLOAT values.</summary>
internal sealed class FloatDecoder : FixedWidthDecoder<float> { }

/// <summary>DOUBLE values.</summary>
internal sealed class DoubleDecoder : FixedWidthDecoder<double> { }

/// <summary>INT96 values (Spark/Impala timestamps: nanoseconds of day, then Julian day) decoded to microseconds since the Unix epoch, Spark's resolution, which covers dates that 64-bit nanoseconds cannot.</summary>
internal sealed class Int96Decoder : ValueDecoder<long>
{
    private const long JulianEpochDay = 2440588;
    private const long MicrosPerDay = 86_400_000_000;

    public override int DecodePlain(ReadOnlySpan<byte> data, Span<long> dst)
    {
        int bytes = checked(dst.Length * 12);
        if (bytes > data.Length) throw Short(bytes, data.Length);
        for (int i = 0; i < dst.Length; i++)
        {
            long nanos = BinaryPrimitives.ReadInt64LittleEndian(data.Slice(i * 12));
            int day = BinaryPrimitives.ReadInt32LittleEndian(data.Slice(i * 12 + 8));
            dst[i] = unchecked((day - JulianEpochDay) * MicrosPerDay + nanos / 1000);
        }
        return bytes;
    }
}

/// <summary>Shared logic of the variable-length byte array decoders; subclasses turn raw bytes into the element type.</summary>
internal abstract class ByteArrayDecoderBase<T> : ValueDecoder<T>
{
    protected abstract T Make(ReadOnlySpan<byte> bytes);

    public override int DecodePlain(ReadOnlySpan<byte> data, Span<T> dst)
    {
        int pos = 0;
        for (int i = 0; i < dst.Length; i++)
        {
            if (pos + 4 > data.Length) throw Short(pos + 4, data.Length);
            int len = BinaryPrimitives.ReadInt32LittleEndian(data.Slice(pos));
            pos += 4;
            if (len < 0 || len > data.Length - pos) throw new ParquetFormatException($"byte array value {i} has length {len}, past the end of the page");
            dst[i] = Make(data.Slice(pos, len));
            pos += len;
        }
        return pos;
    }

    protected override void DecodeOther(ValueEncoding encoding, ReadOnlySpan<byte> data, Span<T> dst)
    {
        switch (encoding)
        {
            case ValueEncoding.DeltaLengthByteArray: Delta.DecodeLengthByteArray(data, dst.Length, Bytes); break;
            case ValueEncoding.DeltaByteArray: Delta.DecodeByteArray(data, dst.Length, Bytes); break;
            default: throw Unsupported(encoding);
        }
        for (int i = 0; i < dst.Length; i++) dst[i] = Make(Bytes.Get(i));
    }
}

/// <summary>BYTE_ARRAY values read as UTF-8 strings.</summary>
internal sealed class StringDecoder : ByteArrayDecoderBase<string>
{
    // Lenient: a bad byte in text data becomes U+FFFD rather than failing the whole file.
    protected override string Make(ReadOnlySpan<byte> bytes) => bytes.Length == 0 ? "" : System.Text.Encoding.UTF8.GetString(bytes);
}

/// <summary>BYTE_ARRAY values read as byte arrays.</summary>
internal sealed class BinaryDecoder : ByteArrayDecoderBase<byte[]>
{
    protected override byte[] Make(ReadOnlySpan<byte> bytes) => bytes.ToArray();
}

/// <summary>FIXED_LEN_BYTE_ARRAY values.</summary>
internal sealed class FixedLenDecoder : ValueDecoder<byte[]>
{
    private readonly int _width;
    public FixedLenDecoder(int width) => _width = width;

    public override int DecodePlain(ReadOnlySpan<byte> data, Span<byte[]> dst)
    {
        long bytes = (long)dst.Length * _width;
        if (bytes > data.Length) throw Short((int)Math.Min(bytes, int.MaxValue), data.Length);
        for (int i = 0; i < dst.Length; i++) dst[i] = data.Slice(i * _width, _width).ToArray();
        return (int)bytes;
    }

    protected override void DecodeOther(ValueEncoding encoding, ReadOnlySpan<byte> data, Span<byte[]> dst)
    {
        switch (encoding)
        {
            case ValueEncoding.ByteStreamSplit:
            {
                var flat = new byte[checked(dst.Length * _width)];
                Unsplit(data, _width, flat, dst.Length);
                for (int i = 0; i < dst.Length; i++) dst[i] = flat.AsSpan(i * _width, _width).ToArray();
                break;
            }
            case ValueEncoding.DeltaByteArray:
            case ValueEncoding.DeltaLengthByteArray:
            {
                if (encoding == ValueEncoding.DeltaByteArray) Delta.DecodeByteArray(data, dst.Length, Bytes);
                else Delta.DecodeLengthByteArray(data, dst.Length, Bytes);
                for (int i = 0; i < dst.Length; i++)
                {
                    var v = Bytes.Get(i);
                    if (v.Length != _width) throw new ParquetFormatException($"value {i} has {v.Length} bytes, the column's fixed length is {_width}");
                    dst[i] = v.ToArray();
                }
                break;
            }
            default: throw Unsupported(encoding);
        }
    }
}
