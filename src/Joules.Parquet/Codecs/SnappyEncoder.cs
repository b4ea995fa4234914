using System.Runtime.CompilerServices;

namespace Joules.Parquet.Codecs;

/// <summary>Snappy block compression into a reusable buffer: greedy matching over a hash table of 4-byte sequences, literals and 2-byte-offset copies.</summary>
internal static class SnappyEncoder
{
    private const int HashBits = 14;
    private const int MaxOffset = 65535;

    public static int MaxCompressedLength(int n) => 32 + n + n / 6;

    [ThreadStatic] private static int[]? _table;

    public static unsafe int Encode(ReadOnlySpan<byte> src, Span<byte> dst)
    {
        if (dst.Length < MaxCompressedLength(src.Length)) throw new ArgumentException("destination too small", nameof(dst));
        var table = _table ??= new int[1 << HashBits];
        Array.Fill(table, -1);
        int d = 0;
        uint len = (uint)src.Length;
        while (len >= 0x80) { dst[d++] = (byte)(len | 0x80); len >>= 7; }
        dst[d++] = (byte)len;
        int n = src.Length;
        fixed (byte* s = src)
        fixed (byte* o = dst)
        {
            int literalStart = 0;
            int i = 0;
            int limit = n - 4;
            int skip = 32;
            while (i <= limit)
            {
                uint cur = Unsafe.ReadUnaligned<uint>(s + i);
                int h = (int)((cur * 0x1E35A7BDu) >> (32 - HashBits));
                int cand = table[h];
                table[h] = i;
                if (cand < 0 || i - cand > MaxOffset || Unsafe.ReadUnaligned<uint>(s + cand) != cur)
                {
                    // Step faster through data that does not compress.
                    i += skip++ >> 5;
                    continue;
                }
                skip = 32;
                int matchLen = 4;
                while (i + matchLen < n && s[cand + matchLen] == s[i + matchLen]) matchLen++;
                d = Literal(o, d, s + literalStart, i - literalStart);
                d = Copy(o, d, i - cand, matchLen);
                i += matchLen;
                literalStart = i;
                // Index the position just before the next search so back-to-back matches chain, as the reference encoder does.
                if (i - 1 <= limit) table[(int)((Unsafe.ReadUnaligned<uint>(s + i - 1) * 0x1E35A7BDu) >> (32 - HashBits))] = i - 1;
            }
            d = Literal(o, d, s + literalStart, n - literalStart);
        }
        return d;
    }

    private static unsafe int Literal(byte* o, int d, byte* src, int length)
    {
        if (length == 0) return d;
        int l = length - 1;
        if (l < 60) o[d++] = (byte)(l << 2);
        else if (l < 1 << 8) { o[d++] = 60 << 2; o[d++] = (byte)l; }
        else if (l < 1 << 16) { o[d++] = 61 << 2; o[d++] = (byte)l; o[d++] = (byte)(l >> 8); }
        else if (l < 1 << 24) { o[d++] = 62 << 2; o[d++] = (byte)l; o[d++] = (byte)(l >> 8); o[d++] = (byte)(l >> 16); }
        else { o[d++] = 63 << 2; o[d++] = (byte)l; o[d++] = (byte)(l >> 8); o[d++] = (byte)(l >> 16); o[d++] = (byte)(l >> 24); }
        Buffer.MemoryCopy(src, o + d, length, length);
        return d + length;
    }

    private static unsafe int Copy(byte* o, int d, int offset, int length)
    {
        // 2-byte-offset copies carry 1..64 bytes; keep the last piece at least 4 long.
        while (length > 0)
        {
            int piece = length > 64 ? (length - 64 < 4 ? 60 : 64) : length;
            o[d++] = (byte)(((piece - 1) << 2) | 2);
            o[d++] = (byte)offset;
            o[d++] = (byte)(offset >> 8);
            length -= piece;
        }
        return d;
    }
}
