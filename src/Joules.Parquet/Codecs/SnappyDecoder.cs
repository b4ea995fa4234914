using System.Runtime.CompilerServices;

namespace Joules.Parquet.Codecs;

/// <summary>Snappy block decompression straight into a caller's buffer, so pages need no temporary arrays; every offset and length is checked.</summary>
internal static class SnappyDecoder
{
    public static unsafe void Decode(ReadOnlySpan<byte> src, Span<byte> dst)
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
        int srcLen = src.Length, dstLen = dst.Length;
        fixed (byte* ip = src)
        fixed (byte* op = dst)
        {
            while (s < srcLen)
            {
                byte tag = ip[s++];
                int length, offset;
                switch (tag & 3)
                {
                    case 0:
                    {
                        length = tag >> 2;
                        if (length >= 60)
                        {
                            int extra = length - 59;
                            if (extra > srcLen - s) throw Corrupt("literal length past the end");
                            length = 0;
                            for (int k = 0; k < extra; k++) length |= ip[s + k] << (8 * k);
                            s += extra;
                            if (length < 0 || length == int.MaxValue) throw Corrupt("literal too long");
                        }
                        length += 1;
                        if (length > srcLen - s || length > dstLen - d) throw Corrupt("literal past the end");
                        Buffer.MemoryCopy(ip + s, op + d, length, length);
                        s += length;
                        d += length;
                        continue;
                    }
                    case 1:
                        if (s >= srcLen) throw Corrupt("copy past the end");
                        length = 4 + ((tag >> 2) & 7);
                        offset = ((tag & 0xE0) << 3) | ip[s++];
                        break;
                    case 2:
                        if (s + 2 > srcLen) throw Corrupt("copy past the end");
                        length = 1 + (tag >> 2);
                        offset = ip[s] | ip[s + 1] << 8;
                        s += 2;
                        break;
                    default:
                        if (s + 4 > srcLen) throw Corrupt("copy past the end");
                        length = 1 + (tag >> 2);
                        offset = ip[s] | ip[s + 1] << 8 | ip[s + 2] << 16 | ip[s + 3] << 24;
                        s += 4;
                        break;
                }
                if (offset <= 0 || offset > d || length > dstLen - d) throw Corrupt("copy outside the output");
                byte* from = op + d - offset;
                byte* to = op + d;
                if (offset >= length) Buffer.MemoryCopy(from, to, length, length);
                else for (int k = 0; k < length; k++) to[k] = from[k]; // overlapping: repeats the last `offset` bytes
                d += length;
            }
        }
        if (d != dstLen) throw Corrupt($"decoded {d} bytes, page declares {dstLen}");
    }

    private static ParquetFormatException Corrupt(string what) => new($"corrupt SNAPPY page: {what}");
}
