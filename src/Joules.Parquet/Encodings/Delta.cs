using System.Buffers.Binary;

namespace Joules.Parquet.Encodings;

/// <summary>Decoders for DELTA_BINARY_PACKED and the byte-array encodings built on it (DELTA_LENGTH_BYTE_ARRAY, DELTA_BYTE_ARRAY).</summary>
internal static class Delta
{
    /// <summary>Decodes a DELTA_BINARY_PACKED stream into <paramref name="dst"/> (exactly its length, which must not exceed the stream's count); returns the bytes consumed.</summary>
    public static int DecodeInt64(ReadOnlySpan<byte> data, Span<long> dst, out int totalCount)
    {
        int pos = 0;
        ulong blockSize = RleBitPacked.ReadUleb(data, ref pos);
        ulong miniblocks = RleBitPacked.ReadUleb(data, ref pos);
        ulong total = RleBitPacked.ReadUleb(data, ref pos);
        long first = ZigZag(RleBitPacked.ReadUleb(data, ref pos));
        if (blockSize == 0 || blockSize % 128 != 0 || miniblocks == 0 || blockSize % miniblocks != 0 || (blockSize / miniblocks) % 32 != 0 || blockSize > 1 << 20)
            throw new ParquetFormatException($"DELTA_BINARY_PACKED header is invalid (block size {blockSize}, {miniblocks} miniblocks)");
        if (total > int.MaxValue || (long)total < dst.Length)
            throw new ParquetFormatException($"DELTA_BINARY_PACKED holds {total} values, {dst.Length} expected");
        totalCount = (int)total;
        int perMini = (int)(blockSize / miniblocks);
        int nMini = (int)miniblocks;
        if (totalCount == 0) return pos;
        if (dst.Length > 0) dst[0] = first;
        long last = first;
        int n = 1;
        // Values beyond dst are still walked so the consumed length is right for streams that follow.
        Span<byte> widths = nMini <= 256 ? stackalloc byte[nMini] : new byte[nMini];
        while (n < totalCount)
        {
            long minDelta = ZigZag(RleBitPacked.ReadUleb(data, ref pos));
            if (pos + nMini > data.Length) throw new ParquetFormatException("DELTA_BINARY_PACKED miniblock widths past the end of the data");
            data.Slice(pos, nMini).CopyTo(widths);
            pos += nMini;
            for (int m = 0; m < nMini && n < totalCount; m++)
            {
                int w = widths[m];
                if (w > 64) throw new ParquetFormatException($"DELTA_BINARY_PACKED miniblock bit width {w} is out of range");
                int bytes = perMini * w / 8;
                if (pos + bytes > data.Length) throw new ParquetFormatException("DELTA_BINARY_PACKED miniblock past the end of the data");
                var mini = data.Slice(pos, bytes);
                int take = Math.Min(perMini, totalCount - n);
                ulong mask = w == 64 ? ulong.MaxValue : (1UL << w) - 1;
                if (n >= dst.Length) { n += take; pos += bytes; continue; }
                long bit = 0;
                for (int k = 0; k < take; k++, bit += w)
                {
                    ulong packed;
                    int bp = (int)(bit >> 3);
                    int off = (int)(bit & 7);
                    if (w <= 56 && bp + 8 <= mini.Length) packed = (BinaryPrimitives.ReadUInt64LittleEndian(mini.Slice(bp)) >> off) & mask;
                    else packed = w == 0 ? 0 : RleBitPacked.ReadBitsSlow(mini, bit, w) & mask;
                    unchecked { last = last + minDelta + (long)packed; }
                    if (n < dst.Length) dst[n] = last;
                    n++;
                }
                pos += bytes;
            }
        }
        return pos;
    }

    private static long ZigZag(ulong v) => (long)(v >> 1) ^ -(long)(v & 1);

    /// <summary>Decodes DELTA_LENGTH_BYTE_ARRAY into a flat byte buffer and offsets (count + 1 entries).</summary>
    public static void DecodeLengthByteArray(ReadOnlySpan<byte> data, int count, ByteArrayBuffer output)
    {
        var lengths = new long[count];
        int pos = DecodeInt64(data, lengths, out _);
        output.Reset(count);
        for (int i = 0; i < count; i++)
        {
            long len = lengths[i];
            if (len < 0 || len > data.Length - pos) throw new ParquetFormatException($"DELTA_LENGTH_BYTE_ARRAY value {i} has length {len}, past the end of the data");
            output.Add(data.Slice(pos, (int)len));
            pos += (int)len;
        }
    }

    /// <summary>Decodes DELTA_BYTE_ARRAY (prefix lengths, then suffixes as DELTA_LENGTH_BYTE_ARRAY).</summary>
    public static void DecodeByteArray(ReadOnlySpan<byte> data, int count, ByteArrayBuffer output)
    {
        var prefixes = new long[count];
        int pos = DecodeInt64(data, prefixes, out _);
        var suffixes = new ByteArrayBuffer();
        DecodeLengthByteArray(data.Slice(pos), count, suffixes);
        output.Reset(count);
        byte[] prev = [];
        int prevLen = 0;
        byte[] scratch = new byte[256];
        for (int i = 0; i < count; i++)
        {
            long p = prefixes[i];
            var suffix = suffixes.Get(i);
            if (p < 0 || p > prevLen) throw new ParquetFormatException($"DELTA_BYTE_ARRAY value {i} has prefix length {p} longer than the previous value ({prevLen})");
            int len = (int)p + suffix.Length;
            if (scratch.Length < len) Array.Resize(ref scratch, Math.Max(len, scratch.Length * 2));
            prev.AsSpan(0, (int)p).CopyTo(scratch);
            suffix.CopyTo(scratch.AsSpan((int)p));
            output.Add(scratch.AsSpan(0, len));
            (prev, scratch) = (scratch, prev);
            prevLen = len;
        }
    }
}

/// <summary>Variable-length byte values stored back to back with an offsets array, so decoding allocates no per-value arrays.</summary>
internal sealed class ByteArrayBuffer
{
    private byte[] _data = new byte[4096];
    private int[] _offsets = new int[257];
    private int _count;

    public int Count => _count;

    public void Reset(int expected)
    {
        _count = 0;
        if (_offsets.Length < expected + 1) _offsets = new int[expected + 1];
        _offsets[0] = 0;
    }

    public void Add(ReadOnlySpan<byte> value)
    {
        int end = _offsets[_count];
        if (end + value.Length > _data.Length) Array.Resize(ref _data, Math.Max(_data.Length * 2, end + value.Length));
        if (_count + 2 > _offsets.Length) Array.Resize(ref _offsets, _offsets.Length * 2);
        value.CopyTo(_data.AsSpan(end));
        _offsets[++_count] = end + value.Length;
    }

    public ReadOnlySpan<byte> Get(int i) => _data.AsSpan(_offsets[i], _offsets[i + 1] - _offsets[i]);
}
