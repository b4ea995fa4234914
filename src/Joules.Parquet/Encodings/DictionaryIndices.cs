namespace Joules.Parquet.Encodings;

/// <summary>
/// Streams the RLE / bit-packed hybrid dictionary indices of one data page, looking each up in the dictionary as it goes:
/// callers take any number of values at a time (a run of non-null rows), so values land in their rows without a second pass.
/// Every index is checked against the dictionary's size.
/// </summary>
internal ref struct DictionaryIndices
{
    private const int Batch = 1024;
    private readonly ReadOnlySpan<byte> _data;
    private readonly int _bitWidth;
    private int _pos;
    private long _rleLeft;
    private int _rleValue;
    private long _packedLeft;
    private ReadOnlySpan<byte> _packed;
    private long _bit;

    /// <param name="data">The page's value bytes after the bit-width byte.</param>
    /// <param name="bitWidth">The bit width that byte gives.</param>
    public DictionaryIndices(ReadOnlySpan<byte> data, int bitWidth)
    {
        if ((uint)bitWidth > 32) throw new ParquetFormatException($"dictionary index bit width {bitWidth} is out of range");
        _data = data;
        _bitWidth = bitWidth;
    }

    /// <summary>Fills <paramref name="dst"/> with the dictionary entries of the next dst.Length indices.</summary>
    public void Gather<T>(ReadOnlySpan<T> dictionary, Span<T> dst, ref int[] scratch)
    {
        if (scratch.Length < Batch) scratch = new int[Batch];
        int n = 0;
        while (n < dst.Length)
        {
            if (_rleLeft > 0)
            {
                int take = (int)Math.Min(_rleLeft, dst.Length - n);
                if ((uint)_rleValue >= (uint)dictionary.Length) throw OutOfRange((uint)_rleValue, dictionary.Length);
                dst.Slice(n, take).Fill(dictionary[_rleValue]);
                _rleLeft -= take;
                n += take;
                continue;
            }
            if (_packedLeft > 0)
            {
                int take = (int)Math.Min(Math.Min(_packedLeft, dst.Length - n), Batch);
                var idx = scratch.AsSpan(0, take);
                RleBitPacked.Unpack32(_packed, _bit, _bitWidth, idx);
                _bit += (long)take * _bitWidth;
                _packedLeft -= take;
                var d = dst.Slice(n, take);
                for (int i = 0; i < idx.Length; i++)
                {
                    uint k = (uint)idx[i];
                    if (k >= (uint)dictionary.Length) throw OutOfRange(k, dictionary.Length);
                    d[i] = dictionary[(int)k];
                }
                n += take;
                continue;
            }
            NextRun();
        }
    }

    private void NextRun()
    {
        if (_pos >= _data.Length) throw new ParquetFormatException("dictionary indices end before the page's values do");
        ulong header = RleBitPacked.ReadUleb(_data, ref _pos);
        if ((header & 1) == 0)
        {
            int byteWidth = (_bitWidth + 7) >> 3;
            if (_pos + byteWidth > _data.Length) throw new ParquetFormatException("RLE run value past the end of the data");
            uint value = 0;
            for (int i = 0; i < byteWidth; i++) value |= (uint)_data[_pos + i] << (8 * i);
            _pos += byteWidth;
            _rleLeft = (long)Math.Min(header >> 1, int.MaxValue);
            _rleValue = (int)Math.Min(value, int.MaxValue);
            return;
        }
        ulong groups = header >> 1;
        // Writers may truncate the final group to the bytes its values need.
        int bytes = (int)Math.Min(groups * (ulong)_bitWidth, (ulong)(_data.Length - _pos));
        _packed = _data.Slice(_pos, bytes);
        _bit = 0;
        _packedLeft = _bitWidth == 0 ? (long)Math.Min(groups * 8, int.MaxValue) : Math.Min((long)Math.Min(groups * 8, int.MaxValue), (long)bytes * 8 / _bitWidth);
        _pos += bytes;
        if (_packedLeft == 0 && groups > 0 && _bitWidth > 0) throw new ParquetFormatException("bit-packed run past the end of the data");
    }

    private static ParquetFormatException OutOfRange(uint index, int count) =>
        new($"dictionary index {index} out of range (the dictionary has {count} entries)");
}
