using System.Buffers;
using System.Buffers.Binary;
using Joules.Parquet.Format;
using Joules.Parquet.Thrift;
using Xunit;

namespace Joules.Parquet.Tests;

/// <summary>A chunk whose encoding changes from page to page (dictionary, then PLAIN fallback, as pyarrow and arrow-rs write), with index and unknown pages in between.</summary>
public class MixedEncodingTests
{
    private static byte[] Page(PageType type, int values, ValueEncoding encoding, byte[] body)
    {
        var buf = new ArrayBufferWriter<byte>();
        new PageHeader { Type = type, NumValues = values, Encoding = encoding, UncompressedPageSize = body.Length, CompressedPageSize = body.Length }.Write(new CompactWriter(buf));
        return [.. buf.WrittenSpan, .. body];
    }

    private static byte[] Ints(params int[] v)
    {
        var b = new byte[v.Length * 4];
        for (int i = 0; i < v.Length; i++) BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(i * 4), v[i]);
        return b;
    }

    [Fact]
    public void DictionaryThenPlainPagesInOneChunk()
    {
        var dict = Page(PageType.DictionaryPage, 2, ValueEncoding.Plain, Ints(10, 20));
        // Bit width 1, one bit-packed group holding indices 0, 1, 1.
        var page1 = Page(PageType.DataPage, 3, ValueEncoding.RleDictionary, [1, 3, 0b110]);
        var index = Page(PageType.IndexPage, 0, ValueEncoding.Plain, [1, 2, 3]);
        var unknown = Page((PageType)42, 0, ValueEncoding.Plain, [9, 9]);
        var page2 = Page(PageType.DataPage, 3, ValueEncoding.Plain, Ints(7, 8, 9));
        byte[] chunk = [.. dict, .. page1, .. index, .. unknown, .. page2];
        var meta = new FileMetaData { Version = 1, NumRows = 6 };
        meta.Schema.Add(new SchemaElement { Name = "schema", NumChildren = 1 });
        meta.Schema.Add(new SchemaElement { Name = "x", Type = PhysicalType.Int32, RepetitionType = Repetition.Required });
        var rg = new RowGroup { NumRows = 6, TotalByteSize = chunk.Length };
        rg.Columns.Add(new ColumnChunk
        {
            FileOffset = 4,
            MetaData = new ColumnMetaData
            {
                Type = PhysicalType.Int32, PathInSchema = ["x"], Codec = CompressionCodec.Uncompressed, NumValues = 6,
                TotalCompressedSize = chunk.Length, TotalUncompressedSize = chunk.Length,
                DictionaryPageOffset = 4, DataPageOffset = 4 + dict.Length,
                Encodings = [ValueEncoding.Plain, ValueEncoding.RleDictionary],
            },
        });
        meta.RowGroups.Add(rg);
        var footer = new ArrayBufferWriter<byte>();
        meta.Write(new CompactWriter(footer));
        var len = new byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(len, footer.WrittenCount);
        byte[] file = [.. "PAR1"u8, .. chunk, .. footer.WrittenSpan, .. len, .. "PAR1"u8];

        using var r = ParquetFileReader.Open(new MemoryStream(file), "mixed.parquet");
        Assert.Equal([10, 20, 20, 7, 8, 9], r.ReadRowGroup(0).Get<int>("x").Values);
    }
}
