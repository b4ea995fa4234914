using System.Runtime.CompilerServices;

namespace Joules.Parquet.Codecs;

/// <summary>Snappy block decompression straight into a caller's buffer, so pages need no temporary arrays; every offset and length is checked.</summary>
internal static class SnappyDecoder
{
    public static void Decode(ReadOnlySpan<byte> src, Span<byte> dst)
    {
        int s = 0;
        ulong declared = 0;
        for (int shift = 0; ; shift += 7)
        {
            if (s >= src.Length || shift > 35) throw Corrupt("bad length header");
            byte b = src[s++];
            declared |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0) break;
        }
        if (declared != (ulong)dst.Length) throw Corrupt($"block holds {declared} bytes, page declares {dst.Length}");
        int d = 0;
        while (s < src.Length)
        {
            byte tag = src[s++];
            int length, offset;
            switch (tag & 3)
            {
                case 0:
                {
                    length = tag >> 2;
                    if (length >= 60)
                    {
                        int extra = length - 59;
                        if (s + extra > src.Length) throw Corrupt("literal length past the end");
                        length = 0;
                        for (int k = 0; k < extra; k++) length |= src[s + k] << (8 * k);
                        s += extra;
                        if (length < 0) throw Corrupt("literal too long");
                    }
                    length += 1;
                    if (length > src.Length - s || length > dst.Length - d) throw Corrupt("literal past the end");
                    src.Slice(s, length).CopyTo(dst.Slice(d));
                    s += length;
                    d += length;
                    continue;
                }
                case 1:
                    if (s >= src.Length) throw Corrupt("copy past the end");
                    length = 4 + ((tag >> 2) & 7);
                    offset = ((tag & 0xE0) << 3) | src[s++];
                    break;
                case 2:
                    if (s + 2 > src.Length) throw Corrupt("copy past the end");
                    length = 1 + (tag >> 2);
                    offset = src[s] | src[s + 1] << 8;
                    s += 2;
                    break;
                default:
                    if (s + 4 > src.Length) throw Corrupt("copy past the end");
                    length = 1 + (tag >> 2);
                    offset = src[s] | src[s + 1] << 8 | src[s + 2] << 16 | src[s + 3] << 24;
                    s += 4;
                    break;
            }
            if (offset <= 0 || offset > d || length > dst.Length - d) throw Corrupt("copy outside the output");
            Copy(dst, d, offset, length);
            d += length;
        }
        if (d != dst.Length) throw Corrupt($"decoded {d} bytes, page declares {dst.Length}");
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Copy(Span<byte> dst, int d, int offset, int length)
    {
        if (offset >= length)
        {
            dst.Slice(d - offset, length).CopyTo(dst.Slice(d));
            return;
        }
        // Overlapping copy repeats the last `offset` bytes: copy in growing non-overlapping chunks.
        int done = 0;
        while (done < length)
        {
            int chunk = Math.Min(offset + done, length - done);
            dst.Slice(d - offset, chunk).CopyTo(dst.Slice(d + done));
            done += chunk;
        }
    }

    private static ParquetFormatException Corrupt(string what) => new($"corrupt SNAPPY page: {what}");
}
