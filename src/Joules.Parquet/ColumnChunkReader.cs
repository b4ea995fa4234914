using System.Buffers;
using System.Buffers.Binary;
using Joules.Parquet.Codecs;
using Joules.Parquet.Encodings;
using Joules.Parquet.Format;
using Joules.Parquet.Thrift;

namespace Joules.Parquet;

/// <summary>Reads every page of one flat column chunk (dictionary, v1 and v2 data pages) into a typed column of one row group.</summary>
internal sealed class ColumnChunkReader
{
    private readonly string _file;
    private readonly int _rowGroup;
    private readonly ParquetColumn _column;
    private readonly ParquetReadOptions _options;
    private int _page = -1;

    public ColumnChunkReader(string file, int rowGroup, ParquetColumn column, ParquetReadOptions options)
    {
        _file = file;
        _rowGroup = rowGroup;
        _column = column;
        _options = options;
    }

    private ParquetFormatException Error(string message, Exception? inner = null) =>
        ParquetFormatException.At(_file, _rowGroup, _column.Name, _page >= 0 ? _page : null, message, inner);

    /// <summary>Decodes the chunk held in <paramref name="buffer"/>[offset..offset+length] into exactly <paramref name="rows"/> values.</summary>
    public ColumnData Read(byte[] buffer, int offset, int length, ColumnMetaData meta, int rows)
    {
        ChunkArray = buffer;
        ChunkOffset = offset;
        var chunk = new ReadOnlySpan<byte>(buffer, offset, length);
        try
        {
            return _column.PhysicalType switch
            {
                PhysicalType.Boolean => ReadTyped(chunk, meta, rows, new BooleanDecoder()),
                PhysicalType.Int32 => ReadTyped(chunk, meta, rows, new Int32Decoder()),
                PhysicalType.Int64 => ReadTyped(chunk, meta, rows, new Int64Decoder()),
                PhysicalType.Int96 => ReadTyped(chunk, meta, rows, new Int96Decoder()),
                PhysicalType.Float => ReadTyped(chunk, meta, rows, new FloatDecoder()),
                PhysicalType.Double => ReadTyped(chunk, meta, rows, new DoubleDecoder()),
                PhysicalType.ByteArray when _column.IsText => ReadTyped(chunk, meta, rows, new StringDecoder()),
                PhysicalType.ByteArray => ReadTyped(chunk, meta, rows, new BinaryDecoder()),
                PhysicalType.FixedLenByteArray => ReadTyped(chunk, meta, rows, new FixedLenDecoder(_column.TypeLength)),
                _ => throw Error($"unknown physical type {(int)_column.PhysicalType}"),
            };
        }
        catch (ParquetFormatException e) when (e.File == null)
        {
            // Low-level decoders know nothing of where they are; add the location once, here.
            throw ParquetFormatException.At(_file, _rowGroup, _column.Name, _page >= 0 ? _page : null, e.Message, e, e.IsNotSupported);
        }
        catch (Exception e) when (e is IndexOutOfRangeException or ArgumentException or OverflowException or InvalidDataException)
        {
            throw Error($"corrupt page data ({e.Message})", e);
        }
    }

    private unsafe ColumnData ReadTyped<T>(ReadOnlySpan<byte> chunk, ColumnMetaData meta, int rows, ValueDecoder<T> decoder)
    {
        long elemSize = typeof(T).IsValueType ? System.Runtime.CompilerServices.Unsafe.SizeOf<T>() : IntPtr.Size;
        if (rows * (elemSize + (_column.IsOptional ? 1 : 0)) > _options.MaxColumnBytes)
            throw Error($"row group declares {rows} rows, which would need more than the {_options.MaxColumnBytes} byte limit for one column");
        var values = new T[rows];
        bool[]? validity = _column.IsOptional ? new bool[rows] : null;
        T[]? dictionary = null;
        int row = 0;
        int pos = 0;
        int[] levels = [];
        int[] indices = [];
        bool anyNull = false;
        try
        {
            while (row < rows && pos < chunk.Length)
            {
                _page++;
                PageHeader header;
                int headerStart = pos;
                try
                {
                    var reader = new CompactReader(ChunkArray, ChunkOffset + pos, chunk.Length - pos);
                    header = PageHeader.Read(reader);
                    pos = reader.Position - ChunkOffset;
                }
                catch (ParquetFormatException e) { throw Error($"page header: {e.Message}", e); }
                if (header.CompressedPageSize < 0 || header.UncompressedPageSize < 0)
                    throw Error($"negative page size (compressed {header.CompressedPageSize}, uncompressed {header.UncompressedPageSize})");
                if (header.CompressedPageSize > chunk.Length - pos)
                    throw Error($"page of {header.CompressedPageSize} bytes at offset {headerStart} runs past the end of the column chunk ({chunk.Length} bytes)");
                if (header.UncompressedPageSize > _options.MaxPageBytes)
                    throw Error($"page declares {header.UncompressedPageSize} uncompressed bytes, over the {_options.MaxPageBytes} byte limit");
                var raw = chunk.Slice(pos, header.CompressedPageSize);
                pos += header.CompressedPageSize;

                switch (header.Type)
                {
                    case PageType.DictionaryPage:
                    {
                        if (!header.HasDictHeader) throw Error("dictionary page without a dictionary header");
                        if (dictionary != null) throw Error("second dictionary page in one column chunk");
                        var data = Decompress(meta.Codec, raw, header.UncompressedPageSize);
                        if (header.NumValues < 0 || header.NumValues > (long)data.Length * 8 + 8)
                            throw Error($"dictionary page declares {header.NumValues} values in {data.Length} bytes");
                        if (header.Encoding is not (ValueEncoding.Plain or ValueEncoding.PlainDictionary))
                            throw Error($"dictionary page encoding {header.Encoding} is not supported");
                        dictionary = decoder.DecodeDictionary(data, header.NumValues);
                        break;
                    }
                    case PageType.DataPage:
                    case PageType.DataPageV2:
                    {
                        bool v2 = header.Type == PageType.DataPageV2;
                        if (v2 ? !header.HasV2Header : !header.HasDataHeader) throw Error("data page without its header");
                        int n = header.NumValues;
                        if (n < 0 || n > rows - row) throw Error($"page holds {n} values but only {rows - row} rows of the row group are left");
                        ReadOnlySpan<byte> data;
                        ReadOnlySpan<byte> defLevels = default;
                        bool hasDefLevels = _column.IsOptional;
                        if (v2)
                        {
                            int rl = header.RepetitionLevelsByteLength, dl = header.DefinitionLevelsByteLength;
                            if (rl < 0 || dl < 0 || (long)rl + dl > raw.Length) throw Error($"level lengths ({rl} + {dl} bytes) exceed the page ({raw.Length} bytes)");
                            // A flat column's repetition levels are all zero; some writers still emit the bytes.
                            defLevels = raw.Slice(rl, dl);
                            var body = raw.Slice(rl + dl);
                            int bodySize = header.UncompressedPageSize - rl - dl;
                            if (bodySize < 0) throw Error("uncompressed page size is smaller than its levels");
                            // An empty body is never handed to the codec: some writers leave it empty even when compressed.
                            data = header.IsCompressed && meta.Codec != CompressionCodec.Uncompressed && bodySize > 0
                                ? Decompress(meta.Codec, body, bodySize)
                                : body;
                        }
                        else
                        {
                            data = Decompress(meta.Codec, raw, header.UncompressedPageSize);
                            if (hasDefLevels)
                            {
                                if (header.DefinitionLevelEncoding != ValueEncoding.Rle)
                                    throw Error($"definition level encoding {header.DefinitionLevelEncoding} is not supported") ;
                                if (data.Length < 4) throw Error("definition levels missing");
                                int len = BinaryPrimitives.ReadInt32LittleEndian(data);
                                if (len < 0 || len > data.Length - 4) throw Error($"definition levels length {len} past the end of the page");
                                defLevels = data.Slice(4, len);
                                data = data.Slice(4 + len);
                            }
                        }

                        int nonNull = n;
                        if (hasDefLevels)
                        {
                            if (levels.Length < n) levels = new int[Math.Max(n, 1024)];
                            var lv = levels.AsSpan(0, n);
                            RleBitPacked.Decode(defLevels, 1, lv);
                            nonNull = 0;
                            for (int i = 0; i < n; i++) nonNull += lv[i];
                        }

                        var dst = values.AsSpan(row, nonNull);
                        if (header.Encoding is ValueEncoding.RleDictionary or ValueEncoding.PlainDictionary)
                        {
                            if (dictionary == null) throw Error("dictionary-encoded page but the chunk has no dictionary page");
                            if (nonNull > 0)
                            {
                                if (data.Length < 1) throw Error("dictionary indices missing");
                                int bw = data[0];
                                if (indices.Length < nonNull) indices = new int[Math.Max(nonNull, 1024)];
                                var idx = indices.AsSpan(0, nonNull);
                                RleBitPacked.Decode(data.Slice(1), bw, idx);
                                int dictLen = dictionary.Length;
                                for (int i = 0; i < idx.Length; i++)
                                {
                                    int k = idx[i];
                                    if ((uint)k >= (uint)dictLen) throw Error($"dictionary index {k} out of range (the dictionary has {dictLen} entries)");
                                    dst[i] = dictionary[k];
                                }
                            }
                        }
                        else if (nonNull > 0)
                        {
                            decoder.Decode(header.Encoding, data, dst);
                        }

                        if (hasDefLevels)
                        {
                            // Values were decoded densely at the front; spread them to their rows from the back, in place.
                            var lv = levels.AsSpan(0, n);
                            var vals = values.AsSpan(row, n);
                            var valid = validity.AsSpan(row, n);
                            int k = nonNull - 1;
                            for (int i = n - 1; i >= 0; i--)
                            {
                                if (lv[i] != 0) { vals[i] = vals[k--]; valid[i] = true; }
                                else { vals[i] = default!; valid[i] = false; anyNull = true; }
                            }
                        }
                        row += n;
                        break;
                    }
                    default:
                        // Index pages and page types newer than this reader are skipped.
                        break;
                }
            }
        }
        finally
        {
            if (_pageBuf.Length > 0) ArrayPool<byte>.Shared.Return(_pageBuf);
            _pageBuf = [];
        }
        if (row != rows) throw Error($"column chunk holds {row} values but the row group has {rows} rows");
        _page = -1;
        return new ColumnData<T>(values, anyNull ? validity : null);
    }

    // Thrift decoding works on the array behind the chunk span.
    private byte[] ChunkArray = [];
    private int ChunkOffset;

    private byte[] _pageBuf = [];

    private ReadOnlySpan<byte> Decompress(CompressionCodec codec, ReadOnlySpan<byte> src, int size)
    {
        if (codec == CompressionCodec.Uncompressed)
        {
            if (src.Length != size) throw Error($"uncompressed page has {src.Length} bytes but declares {size}");
            return src;
        }
        if (_pageBuf.Length < size)
        {
            if (_pageBuf.Length > 0) ArrayPool<byte>.Shared.Return(_pageBuf);
            _pageBuf = ArrayPool<byte>.Shared.Rent(Math.Max(size, 1));
        }
        var dst = _pageBuf.AsSpan(0, size);
        Compression.Decompress(codec, src, dst);
        return dst;
    }
}
