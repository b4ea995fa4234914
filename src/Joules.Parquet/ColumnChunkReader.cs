using System.Buffers.Binary;
using Joules.Parquet.Codecs;
using Joules.Parquet.Encodings;
using Joules.Parquet.Format;
using Joules.Parquet.Thrift;

namespace Joules.Parquet;

/// <summary>What <see cref="ColumnChunkReader.NextPage"/> found.</summary>
internal enum PageKind { End, Dictionary, Data }

/// <summary>One data page split into its parts: encoded repetition and definition levels (no length prefixes) and the value bytes, all uncompressed.</summary>
internal ref struct DataPage
{
    public int NumValues;
    public ValueEncoding Encoding;
    public ReadOnlySpan<byte> Repetition;
    public ReadOnlySpan<byte> Definition;
    public ReadOnlySpan<byte> Values;
}

/// <summary>
/// Reads the pages of one column's chunks (dictionary, v1 and v2 data pages) for every row group of a file.
/// One instance per column and reader: its scratch buffers (page, levels, dictionary) are reused from chunk to chunk,
/// so reading a file allocates only what the caller keeps.
/// </summary>
internal sealed partial class ColumnChunkReader
{
    private readonly string _file;
    private readonly ParquetColumn _column;
    private readonly ParquetReadOptions _options;
    private int _rowGroup;
    private int _page = -1;
    private byte[] _chunk = [];
    private int _chunkOffset, _chunkLength, _pos;
    private CompressionCodec _codec;
    private byte[] _pageBuf = [];
    private object? _decoder;

    public ColumnChunkReader(string file, ParquetColumn column, ParquetReadOptions options)
    {
        _file = file;
        _column = column;
        _options = options;
    }

    public ParquetColumn Column => _column;

    private ParquetFormatException Error(string message, Exception? inner = null) =>
        ParquetFormatException.At(_file, _rowGroup, _column.Name, _page >= 0 ? _page : null, message, inner);

    /// <summary>Points the reader at one column chunk held in <paramref name="buffer"/>[offset..offset+length].</summary>
    private void Begin(int rowGroup, byte[] buffer, int offset, int length, ColumnMetaData meta)
    {
        _rowGroup = rowGroup;
        _page = -1;
        _chunk = buffer;
        _chunkOffset = offset;
        _chunkLength = length;
        _pos = 0;
        _codec = meta.Codec;
        _dictCount = -1;
    }

    /// <summary>The typed value decoder for this column, made once.</summary>
    private ValueDecoder<T> Decoder<T>()
    {
        if (_decoder is ValueDecoder<T> d) return d;
        object made = _column.PhysicalType switch
        {
            PhysicalType.Boolean => new BooleanDecoder(),
            PhysicalType.Int32 => new Int32Decoder(),
            PhysicalType.Int64 => new Int64Decoder(),
            PhysicalType.Int96 => new Int96Decoder(),
            PhysicalType.Float => new FloatDecoder(),
            PhysicalType.Double => new DoubleDecoder(),
            PhysicalType.ByteArray when _column.IsText => new StringDecoder(),
            PhysicalType.ByteArray => new BinaryDecoder(),
            PhysicalType.FixedLenByteArray => new FixedLenDecoder(_column.TypeLength),
            _ => throw Error($"unknown physical type {(int)_column.PhysicalType}"),
        };
        _decoder = made;
        return (ValueDecoder<T>)made;
    }

    /// <summary>The error to throw for a failure inside a chunk: low-level decoders know nothing of where they are, so the location is added once, here; null for errors that are not about the data.</summary>
    private ParquetFormatException? Locate(Exception e) => e switch
    {
        ParquetFormatException { File: null } p => ParquetFormatException.At(_file, _rowGroup, _column.Name, _page >= 0 ? _page : null, p.Message, p, p.IsNotSupported),
        IndexOutOfRangeException or ArgumentException or OverflowException or InvalidDataException => Error($"corrupt page data ({e.Message})", e),
        _ => null,
    };

    /// <summary>Reads the next page header and body; dictionary pages come back as <see cref="PageKind.Dictionary"/> with their values in <paramref name="page"/>.Values.</summary>
    private PageKind NextPage(out DataPage page)
    {
        page = default;
        while (_pos < _chunkLength)
        {
            _page++;
            PageHeader header;
            int headerStart = _pos;
            try
            {
                var reader = new CompactReader(_chunk, _chunkOffset + _pos, _chunkLength - _pos);
                header = PageHeader.Read(reader);
                _pos = reader.Position - _chunkOffset;
            }
            catch (ParquetFormatException e) { throw Error($"page header: {e.Message}", e); }
            if (header.CompressedPageSize < 0 || header.UncompressedPageSize < 0)
                throw Error($"negative page size (compressed {header.CompressedPageSize}, uncompressed {header.UncompressedPageSize})");
            if (header.CompressedPageSize > _chunkLength - _pos)
                throw Error($"page of {header.CompressedPageSize} bytes at offset {headerStart} runs past the end of the column chunk ({_chunkLength} bytes)");
            if (header.UncompressedPageSize > _options.MaxPageBytes)
                throw Error($"page declares {header.UncompressedPageSize} uncompressed bytes, over the {_options.MaxPageBytes} byte limit");
            var raw = new ReadOnlySpan<byte>(_chunk, _chunkOffset + _pos, header.CompressedPageSize);
            _pos += header.CompressedPageSize;

            switch (header.Type)
            {
                case PageType.DictionaryPage:
                {
                    if (!header.HasDictHeader) throw Error("dictionary page without a dictionary header");
                    var data = Decompress(raw, header.UncompressedPageSize);
                    if (header.NumValues < 0 || header.NumValues > (long)data.Length * 8 + 8)
                        throw Error($"dictionary page declares {header.NumValues} values in {data.Length} bytes");
                    if (header.Encoding is not (ValueEncoding.Plain or ValueEncoding.PlainDictionary))
                        throw Error($"dictionary page encoding {header.Encoding} is not supported");
                    page.NumValues = header.NumValues;
                    page.Values = data;
                    return PageKind.Dictionary;
                }
                case PageType.DataPage:
                case PageType.DataPageV2:
                {
                    bool v2 = header.Type == PageType.DataPageV2;
                    if (v2 ? !header.HasV2Header : !header.HasDataHeader) throw Error("data page without its header");
                    if (header.NumValues < 0) throw Error($"page declares {header.NumValues} values");
                    page.NumValues = header.NumValues;
                    page.Encoding = header.Encoding;
                    bool hasRep = _column.MaxRepetitionLevel > 0, hasDef = _column.MaxDefinitionLevel > 0;
                    if (v2)
                    {
                        int rl = header.RepetitionLevelsByteLength, dl = header.DefinitionLevelsByteLength;
                        if (rl < 0 || dl < 0 || (long)rl + dl > raw.Length) throw Error($"level lengths ({rl} + {dl} bytes) exceed the page ({raw.Length} bytes)");
                        // A flat column's repetition levels are all zero; some writers still emit the bytes.
                        page.Repetition = raw.Slice(0, rl);
                        page.Definition = raw.Slice(rl, dl);
                        var body = raw.Slice(rl + dl);
                        int bodySize = header.UncompressedPageSize - rl - dl;
                        if (bodySize < 0) throw Error("uncompressed page size is smaller than its levels");
                        // An empty body is never handed to the codec: some writers leave it empty even when compressed.
                        page.Values = header.IsCompressed && _codec != CompressionCodec.Uncompressed && bodySize > 0 ? Decompress(body, bodySize) : body;
                        if (hasRep && rl == 0 && page.NumValues > 0) throw Error("list page has no repetition levels");
                    }
                    else
                    {
                        var data = Decompress(raw, header.UncompressedPageSize);
                        if (hasRep)
                        {
                            if (header.RepetitionLevelEncoding != ValueEncoding.Rle)
                                throw Error($"repetition level encoding {header.RepetitionLevelEncoding} is not supported");
                            page.Repetition = LengthPrefixed(data, "repetition", out data);
                        }
                        if (hasDef)
                        {
                            if (header.DefinitionLevelEncoding != ValueEncoding.Rle)
                                throw Error($"definition level encoding {header.DefinitionLevelEncoding} is not supported");
                            page.Definition = LengthPrefixed(data, "definition", out data);
                        }
                        page.Values = data;
                    }
                    return PageKind.Data;
                }
                default:
                    // Index pages and page types newer than this reader are skipped.
                    break;
            }
        }
        return PageKind.End;
    }

    /// <summary>v1 pages prefix each level stream with its byte length; returns the levels and, in <paramref name="rest"/>, what follows.</summary>
    private ReadOnlySpan<byte> LengthPrefixed(ReadOnlySpan<byte> data, string what, out ReadOnlySpan<byte> rest)
    {
        if (data.Length < 4) throw Error($"{what} levels missing");
        int len = BinaryPrimitives.ReadInt32LittleEndian(data);
        if (len < 0 || len > data.Length - 4) throw Error($"{what} levels length {len} past the end of the page");
        rest = data.Slice(4 + len);
        return data.Slice(4, len);
    }

    private ReadOnlySpan<byte> Decompress(ReadOnlySpan<byte> src, int size)
    {
        if (_codec == CompressionCodec.Uncompressed)
        {
            if (src.Length != size) throw Error($"uncompressed page has {src.Length} bytes but declares {size}");
            return src;
        }
        Pooled.Ensure(ref _pageBuf, size);
        var dst = _pageBuf.AsSpan(0, size);
        Compression.Decompress(_codec, src, dst);
        return dst;
    }

    // The current chunk's dictionary, reused between chunks when it fits (strings are new per chunk: they are the caller's values).
    private object? _dict;
    private int _dictCount = -1;

    private T[] Dictionary<T>(ValueDecoder<T> decoder, in DataPage page)
    {
        if (_dictCount >= 0) throw Error("second dictionary page in one column chunk");
        var dict = _dict as T[];
        if (dict == null || dict.Length < page.NumValues || !typeof(T).IsValueType) dict = new T[page.NumValues];
        decoder.DecodePlain(page.Values, dict.AsSpan(0, page.NumValues));
        _dict = dict;
        _dictCount = page.NumValues;
        return dict;
    }

    /// <summary>Decodes one page's present values (dense, in order) into <paramref name="dst"/>.</summary>
    private void DecodeValues<T>(ValueDecoder<T> decoder, in DataPage page, T[]? dict, Span<T> dst)
    {
        if (dst.Length == 0) return;
        if (page.Encoding is ValueEncoding.RleDictionary or ValueEncoding.PlainDictionary)
        {
            if (dict == null) throw Error("dictionary-encoded page but the chunk has no dictionary page");
            if (page.Values.Length < 1) throw Error("dictionary indices missing");
            new DictionaryIndices(page.Values.Slice(1), page.Values[0]).Gather(new ReadOnlySpan<T>(dict, 0, _dictCount), dst, ref _indices);
        }
        else decoder.Decode(page.Encoding, page.Values, dst);
    }

    private int[] _indices = [];

    /// <summary>Gives the scratch buffers back to the shared pool (the reader is being disposed).</summary>
    public void Release()
    {
        Pooled.Return(ref _pageBuf);
        Pooled.Return(ref _validScratch);
        Pooled.Return(ref _rep);
        Pooled.Return(ref _def);
        Pooled.Return(ref _listValidScratch);
        Pooled.Return(ref _elementValidScratch);
        _dict = null;
    }
}
