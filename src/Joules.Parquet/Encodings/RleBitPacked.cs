using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace Joules.Parquet.Encodings;

/// <summary>The RLE / bit-packed hybrid encoding used for levels, dictionary indices and RLE booleans.</summary>
internal static class RleBitPacked
{
    /// <summary>Decodes exactly <paramref name="dst"/>.Length values; returns the bytes consumed. Extra values in the last bit-packed group are dropped.</summary>
    public static int Decode(ReadOnlySpan<byte> data, int bitWidth, Span<int> dst)
    {
        if ((uint)bitWidth > 32) throw new ParquetFormatException($"RLE bit width {bitWidth} is out of range");
        int pos = 0, n = 0;
        int byteWidth = (bitWidth + 7) >> 3;
        while (n < dst.Length)
        {
            if (pos >= data.Length) throw new ParquetFormatException($"RLE data ends after {n} of {dst.Length} values");
            ulong header = ReadUleb(data, ref pos);
            if ((header & 1) == 0)
            {
                ulong run = header >> 1;
                if (pos + byteWidth > data.Length) throw new ParquetFormatException("RLE run value past the end of the data");
                int value = 0;
                for (int i = 0; i < byteWidth; i++) value |= data[pos + i] << (8 * i);
                pos += byteWidth;
                if (bitWidth < 32 && (uint)value >= 1u << bitWidth && bitWidth > 0) throw new ParquetFormatException($"RLE run value {value} does not fit in {bitWidth} bits");
                int take = (int)Math.Min(run, (ulong)(dst.Length - n));
                dst.Slice(n, take).Fill(value);
                n += take;
            }
            else
            {
                ulong groups = header >> 1;
                ulong bytesNeeded = groups * (ulong)bitWidth;
                if (bytesNeeded > (ulong)(data.Length - pos))
                {
                    // Writers may truncate the final group to the bytes its values need.
                    bytesNeeded = (ulong)(data.Length - pos);
                }
                ulong count = groups * 8;
                int take = (int)Math.Min(count, (ulong)(dst.Length - n));
                long bitsAvail = (long)bytesNeeded * 8;
                if ((long)take * bitWidth > bitsAvail) throw new ParquetFormatException("bit-packed run past the end of the data");
                Unpack32(data.Slice(pos, (int)bytesNeeded), bitWidth, dst.Slice(n, take));
                n += take;
                pos += (int)Math.Min(bytesNeeded, (ulong)(groups * (ulong)bitWidth));
            }
        }
        return pos;
    }

    /// <summary>
    /// Decodes exactly <paramref name="dst"/>.Length one-bit values (definition levels of a primitive optional column) as booleans;
    /// returns how many are true. Runs fill whole spans and bit-packed bytes expand eight at a time.
    /// </summary>
    public static int DecodeBits(ReadOnlySpan<byte> data, Span<bool> dst)
    {
        int pos = 0, n = 0, ones = 0;
        while (n < dst.Length)
        {
            if (pos >= data.Length) throw new ParquetFormatException($"RLE data ends after {n} of {dst.Length} values");
            ulong header = ReadUleb(data, ref pos);
            if ((header & 1) == 0)
            {
                ulong run = header >> 1;
                if (pos >= data.Length) throw new ParquetFormatException("RLE run value past the end of the data");
                int value = data[pos++];
                if (value > 1) throw new ParquetFormatException($"RLE run value {value} does not fit in 1 bit");
                int take = (int)Math.Min(run, (ulong)(dst.Length - n));
                dst.Slice(n, take).Fill(value != 0);
                if (value != 0) ones += take;
                n += take;
            }
            else
            {
                ulong groups = header >> 1;
                // One byte per group of eight; writers may truncate the final group.
                int bytes = (int)Math.Min(groups, (ulong)(data.Length - pos));
                int take = (int)Math.Min(groups * 8, (ulong)(dst.Length - n));
                if ((take + 7) / 8 > bytes) throw new ParquetFormatException("bit-packed run past the end of the data");
                var src = data.Slice(pos, (take + 7) / 8);
                var bools = System.Runtime.InteropServices.MemoryMarshal.AsBytes(dst.Slice(n, take));
                int whole = take / 8;
                for (int b = 0; b < whole; b++)
                {
                    byte v = src[b];
                    // Spread the byte's eight bits into eight bytes of 0 or 1.
                    ulong spread = (v & 0x01UL) | ((v & 0x02UL) << 7) | ((v & 0x04UL) << 14) | ((v & 0x08UL) << 21)
                        | ((v & 0x10UL) << 28) | ((v & 0x20UL) << 35) | ((v & 0x40UL) << 42) | ((v & 0x80UL) << 49);
                    BinaryPrimitives.WriteUInt64LittleEndian(bools.Slice(b * 8), spread);
                    ones += System.Numerics.BitOperations.PopCount(v);
                }
                for (int i = whole * 8; i < take; i++)
                {
                    int bit = (src[i >> 3] >> (i & 7)) & 1;
                    bools[i] = (byte)bit;
                    ones += bit;
                }
                n += take;
                pos += (int)Math.Min(groups, (ulong)(data.Length - pos));
            }
        }
        return ones;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong ReadUleb(ReadOnlySpan<byte> data, ref int pos)
    {
        ulong result = 0;
        for (int shift = 0; shift < 64; shift += 7)
        {
            if (pos >= data.Length) throw new ParquetFormatException("varint past the end of the data");
            byte b = data[pos++];
            result |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0) return result;
        }
        throw new ParquetFormatException("varint too long");
    }

    /// <summary>Unpacks little-endian bit-packed values of up to 32 bits.</summary>
    public static void Unpack32(ReadOnlySpan<byte> src, int bitWidth, Span<int> dst) => Unpack32(src, 0, bitWidth, dst);

    /// <summary>Unpacks little-endian bit-packed values of up to 32 bits starting at bit <paramref name="startBit"/> of <paramref name="src"/>.</summary>
    public static unsafe void Unpack32(ReadOnlySpan<byte> src, long startBit, int bitWidth, Span<int> dst)
    {
        if (bitWidth == 0) { dst.Clear(); return; }
        uint mask = bitWidth == 32 ? uint.MaxValue : (1u << bitWidth) - 1;
        int i = 0;
        // Fast path while a full 8-byte load stays inside the buffer: a value starting at bit b needs bytes b/8 .. b/8+7.
        long lastSafeBit = ((long)src.Length - 8) * 8;
        long safeValues = lastSafeBit >= startBit ? (lastSafeBit - startBit) / bitWidth + 1 : 0;
        int fast = (int)Math.Min(dst.Length, safeValues);
        fixed (byte* p = src)
        fixed (int* o = dst)
        {
            long bit = startBit;
            for (; i < fast; i++, bit += bitWidth)
            {
                ulong word = Unsafe.ReadUnaligned<ulong>(p + (bit >> 3));
                o[i] = (int)((uint)(word >> (int)(bit & 7)) & mask);
            }
        }
        for (long bit = startBit + (long)i * bitWidth; i < dst.Length; i++, bit += bitWidth) dst[i] = (int)(uint)(ReadBitsSlow(src, bit, bitWidth) & mask);
    }

    /// <summary>Reads up to 64 bits at an arbitrary bit offset; bytes past the end read as zero.</summary>
    public static ulong ReadBitsSlow(ReadOnlySpan<byte> src, long bit, int width)
    {
        ulong v = 0;
        int got = 0;
        long b = bit;
        while (got < width)
        {
            int bytePos = (int)(b >> 3);
            int off = (int)(b & 7);
            ulong cur = bytePos < src.Length ? src[bytePos] : 0UL;
            int take = Math.Min(8 - off, width - got);
            v |= ((cur >> off) & ((1UL << take) - 1)) << got;
            got += take;
            b += take;
        }
        return v;
    }

    /// <summary>Bit width needed for values up to <paramref name="maxValue"/>.</summary>
    public static int BitWidth(int maxValue) => maxValue == 0 ? 0 : 32 - System.Numerics.BitOperations.LeadingZeroCount((uint)maxValue);
}

/// <summary>Writes the RLE / bit-packed hybrid encoding: runs of 8 or more equal values as RLE, the rest bit-packed in groups of 8.</summary>
internal sealed class RleBitPackedEncoder
{
    private byte[] _buf = new byte[1024];
    private int _len;

    public ReadOnlySpan<byte> Written => _buf.AsSpan(0, _len);

    public void Reset() => _len = 0;

    private void Ensure(int more)
    {
        if (_len + more > _buf.Length) Array.Resize(ref _buf, Math.Max(_buf.Length * 2, _len + more));
    }

    private void WriteUleb(ulong v)
    {
        Ensure(10);
        while (v >= 0x80) { _buf[_len++] = (byte)(v | 0x80); v >>= 7; }
        _buf[_len++] = (byte)v;
    }

    /// <summary>Bit-packs <paramref name="values"/> little-endian into <paramref name="dst"/> (which it fills; a partial last group is padded with zero bits).</summary>
    private static unsafe void Pack(ReadOnlySpan<int> values, int bitWidth, Span<byte> dst)
    {
        dst.Clear();
        if (bitWidth == 0) return;
        ulong acc = 0;
        int bits = 0, o = 0;
        fixed (byte* p = dst)
        {
            foreach (int v in values)
            {
                acc |= (ulong)(uint)v << bits;
                bits += bitWidth;
                if (bits >= 32)
                {
                    // Whole groups fill whole bytes, so 32-bit stores never pass the end of dst until the last one.
                    if (o + 4 <= dst.Length) Unsafe.WriteUnaligned(p + o, (uint)acc);
                    else for (int k = 0; k < dst.Length - o; k++) p[o + k] = (byte)(acc >> (8 * k));
                    o += 4;
                    acc >>= 32;
                    bits -= 32;
                }
            }
            for (; bits > 0 && o < dst.Length; bits -= 8, o++) { p[o] = (byte)acc; acc >>= 8; }
        }
    }

    /// <summary>
    /// Encodes one-bit values (the definition levels of a primitive optional column) straight from the validity array: runs are
    /// found with vectorised searches and bit-packed groups are built eight booleans at a time, with no level array in between.
    /// </summary>
    public void EncodeBits(ReadOnlySpan<bool> values)
    {
        int i = 0, n = values.Length;
        while (i < n)
        {
            int run = RunLength(values, i);
            if (run >= 8)
            {
                WriteUleb((ulong)run << 1);
                Ensure(1);
                _buf[_len++] = values[i] ? (byte)1 : (byte)0;
                i += run;
                continue;
            }
            // Bit-pack until a run of 8 or more begins; whole groups unless the data ends.
            int start = i, end = i;
            while (end < n)
            {
                int r = RunLength(values, end);
                if (r >= 8) break;
                end += r;
            }
            int count = end - start;
            int groups = end < n ? Math.Max(1, count / 8) : (count + 7) / 8;
            int packed = Math.Min(groups * 8, n - start);
            WriteUleb(((ulong)groups << 1) | 1);
            Ensure(groups);
            var bytes = System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.Slice(start, packed));
            for (int g = 0; g < groups; g++)
            {
                int b = 0;
                for (int k = 0; k < 8 && g * 8 + k < packed; k++) b |= bytes[g * 8 + k] << k;
                _buf[_len++] = (byte)b;
            }
            i = start + packed;
        }
    }

    /// <summary>One RLE run of <paramref name="count"/> copies of <paramref name="value"/>.</summary>
    public void Run(int value, int count, int bitWidth)
    {
        if (count == 0) return;
        WriteUleb((ulong)count << 1);
        int byteWidth = (bitWidth + 7) >> 3;
        Ensure(byteWidth);
        for (int b = 0; b < byteWidth; b++) _buf[_len++] = (byte)(value >> (8 * b));
    }

    private static int RunLength(ReadOnlySpan<bool> values, int i)
    {
        int other = values.Slice(i).IndexOf(!values[i]);
        return other < 0 ? values.Length - i : other;
    }

    public void Encode(ReadOnlySpan<int> values, int bitWidth)
    {
        int byteWidth = (bitWidth + 7) >> 3;
        int i = 0;
        int n = values.Length;
        while (i < n)
        {
            // Length of the run of equal values starting at i.
            int v = values[i];
            int j = i + 1;
            while (j < n && values[j] == v) j++;
            int run = j - i;
            if (run >= 8)
            {
                WriteUleb((ulong)run << 1);
                Ensure(byteWidth);
                for (int b = 0; b < byteWidth; b++) _buf[_len++] = (byte)(v >> (8 * b));
                i = j;
                continue;
            }
            // Bit-pack groups of 8 until the next run of 8 equal values begins (or the end).
            int start = i;
            int end = i;
            while (end < n)
            {
                int k = end + 1;
                while (k < n && values[k] == values[end] && k - end < 8) k++;
                if (k - end >= 8) break;
                end = k;
            }
            // Whole groups of 8; the last group is padded with zeros if the data ends.
            int count = end - start;
            int groups = (count + 7) / 8;
            if (end < n)
            {
                // Round down to whole groups when a run follows, leaving the remainder to join the run check.
                groups = count / 8;
                if (groups == 0) { groups = 1; }
            }
            int packed = Math.Min(groups * 8, n - start);
            WriteUleb(((ulong)groups << 1) | 1);
            int bytes = groups * bitWidth;
            Ensure(bytes + 8);
            Pack(values.Slice(start, packed), bitWidth, _buf.AsSpan(_len, bytes));
            _len += bytes;
            i = start + packed;
        }
    }
}
