namespace Joules.Parquet.Encodings;

/// <summary>RLE_DICTIONARY pages: the hybrid-encoded indices are looked up in the dictionary as they are decoded, without an index array for the whole page.</summary>
internal static class DictionaryIndices
{
    private const int Batch = 1024;

    /// <summary>Fills <paramref name="dst"/> with dictionary entries for the indices in <paramref name="data"/> (bit width <paramref name="bitWidth"/>); every index is checked against <paramref name="dictCount"/>.</summary>
    public static void Gather<T>(ReadOnlySpan<byte> data, int bitWidth, T[] dict, int dictCount, Span<T> dst, ref int[] scratch)
    {
        if ((uint)bitWidth > 32) throw new ParquetFormatException($"dictionary index bit width {bitWidth} is out of range");
        if (scratch.Length < Batch) scratch = new int[Batch];
        int pos = 0, n = 0;
        int byteWidth = (bitWidth + 7) >> 3;
        var dictionary = new ReadOnlySpan<T>(dict, 0, dictCount);
        while (n < dst.Length)
        {
            if (pos >= data.Length) throw new ParquetFormatException($"dictionary indices end after {n} of {dst.Length} values");
            ulong header = RleBitPacked.ReadUleb(data, ref pos);
            if ((header & 1) == 0)
            {
                ulong run = header >> 1;
                if (pos + byteWidth > data.Length) throw new ParquetFormatException("RLE run value past the end of the data");
                uint value = 0;
                for (int i = 0; i < byteWidth; i++) value |= (uint)data[pos + i] << (8 * i);
                pos += byteWidth;
                int take = (int)Math.Min(run, (ulong)(dst.Length - n));
                if (take > 0)
                {
                    if (value >= (uint)dictCount) throw OutOfRange(value, dictCount);
                    dst.Slice(n, take).Fill(dictionary[(int)value]);
                }
                n += take;
            }
            else
            {
                ulong groups = header >> 1;
                // Writers may truncate the final group to the bytes its values need.
                int bytes = (int)Math.Min(groups * (ulong)bitWidth, (ulong)(data.Length - pos));
                int take = (int)Math.Min(groups * 8, (ulong)(dst.Length - n));
                if ((long)take * bitWidth > (long)bytes * 8) throw new ParquetFormatException("bit-packed run past the end of the data");
                var packed = data.Slice(pos, bytes);
                for (int done = 0; done < take; done += Batch)
                {
                    int m = Math.Min(Batch, take - done);
                    // Batches start on whole bytes: Batch * bitWidth is a multiple of 8.
                    var idx = scratch.AsSpan(0, m);
                    RleBitPacked.Unpack32(packed.Slice(done / 8 * bitWidth), bitWidth, idx);
                    var d = dst.Slice(n + done, m);
                    for (int i = 0; i < idx.Length; i++)
                    {
                        uint k = (uint)idx[i];
                        if (k >= (uint)dictionary.Length) throw OutOfRange(k, dictCount);
                        d[i] = dictionary[(int)k];
                    }
                }
                n += take;
                pos += bytes;
            }
        }
    }

    private static ParquetFormatException OutOfRange(uint index, int count) =>
        new($"dictionary index {index} out of range (the dictionary has {count} entries)");
}
