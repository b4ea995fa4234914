using System.Buffers;
using System.Buffers.Binary;
using Joules.Parquet.Format;
using Joules.Parquet.Thrift;
using Xunit;

namespace Joules.Parquet.Tests;

/// <summary>Malformed files fail with a ParquetFormatException that says where, never with another exception or a huge allocation.</summary>
public class BadInputTests
{
    /// <summary>A one-column file (required INT32, uncompressed, one data page) and its parsed parts, for surgery.</summary>
    private sealed class Parts
    {
        public byte[] Data = [];          // bytes from offset 4 up to the footer
        public FileMetaData Meta = new();
        public PageHeader Page = new();
        public int PageHeaderLength;

        public static Parts Make(bool dictionary = false, int rows = 1000)
        {
            var ms = new MemoryStream();
            using (var w = new ParquetFileWriter(ms, new ParquetSchema(ParquetColumn.Int32("x")), new ParquetWriteOptions { Codec = ParquetCodec.None, Dictionary = dictionary }, leaveOpen: true))
                w.WriteRowGroup(ColumnData.From(Enumerable.Range(0, rows).Select(i => dictionary ? i % 4 : i * 3).ToArray()));
            var bytes = ms.ToArray();
            int footerLen = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(bytes.Length - 8));
            var p = new Parts
            {
                Data = bytes[4..(bytes.Length - 8 - footerLen)],
                Meta = FileMetaData.Read(new CompactReader(bytes, bytes.Length - 8 - footerLen, footerLen)),
            };
            var dataOffset = (int)p.Meta.RowGroups[0].Columns[0].MetaData!.DataPageOffset - 4;
            var r = new CompactReader(p.Data, dataOffset, p.Data.Length - dataOffset);
            p.Page = PageHeader.Read(r);
            p.PageHeaderLength = r.Position - dataOffset;
            return p;
        }

        public ColumnMetaData Column => Meta.RowGroups[0].Columns[0].MetaData!;

        /// <summary>Replaces the data page (header and body), fixing the chunk size so only the intended damage remains.</summary>
        public void ReplaceDataPage(PageHeader header, byte[] body, byte[]? extraHeaderFields = null)
        {
            int start = (int)Column.DataPageOffset - 4;
            var buf = new ArrayBufferWriter<byte>();
            header.Write(new CompactWriter(buf));
            var h = buf.WrittenSpan.ToArray();
            if (extraHeaderFields != null) h = [.. h[..^1], .. extraHeaderFields, 0];
            Data = [.. Data[..start], .. h, .. body];
            Column.TotalCompressedSize = Data.Length - start + (Column.DictionaryPageOffset is long d ? start - (d - 4) : 0);
        }

        public byte[] Build(byte[]? extraFooterFields = null)
        {
            var buf = new ArrayBufferWriter<byte>();
            Meta.Write(new CompactWriter(buf));
            var footer = buf.WrittenSpan.ToArray();
            if (extraFooterFields != null) footer = [.. footer[..^1], .. extraFooterFields, 0];
            var len = new byte[4];
            BinaryPrimitives.WriteInt32LittleEndian(len, footer.Length);
            return [.. "PAR1"u8, .. Data, .. footer, .. len, .. "PAR1"u8];
        }
    }

    private static ParquetFormatException Fails(byte[] bytes, string name = "bad.parquet")
    {
        var e = Assert.Throws<ParquetFormatException>(() => ParquetFuzzer.ReadEverything(bytes, name));
        Assert.Contains(name, e.Message);
        return e;
    }

    private static void ReadsFine(byte[] bytes)
    {
        using var r = ParquetFileReader.Open(new MemoryStream(bytes), "ok.parquet");
        var g = r.ReadRowGroup(0).Get<int>("x");
        Assert.Equal(1000, g.Count);
        Assert.Equal(999 * 3, g[999]);
    }

    [Fact]
    public void TheUnmodifiedPartsReadBack() => ReadsFine(Parts.Make().Build());

    [Fact]
    public void EveryTruncationFails()
    {
        var bytes = Parts.Make().Build();
        for (int cut = 0; cut < bytes.Length; cut += 7) Fails(bytes[..cut]);
    }

    [Fact]
    public void WrongMagicFails()
    {
        var bytes = Parts.Make().Build();
        var head = (byte[])bytes.Clone(); head[0] = (byte)'X';
        Assert.Contains("magic", Fails(head).Message);
        var tail = (byte[])bytes.Clone(); tail[^1] = (byte)'X';
        Assert.Contains("magic", Fails(tail).Message);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(int.MaxValue)]
    [InlineData(100_000)]
    public void CorruptFooterLengthFails(int length)
    {
        var bytes = Parts.Make().Build();
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(bytes.Length - 8), length);
        Assert.Contains("footer", Fails(bytes).Message);
    }

    [Fact]
    public void CorruptThriftFails()
    {
        var bytes = Parts.Make().Build();
        int footerLen = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(bytes.Length - 8));
        var rng = new Random(1);
        for (int i = 0; i < 200; i++)
        {
            var copy = (byte[])bytes.Clone();
            rng.NextBytes(copy.AsSpan(copy.Length - 8 - footerLen, footerLen));
            Assert.Throws<ParquetFormatException>(() => ParquetFuzzer.ReadEverything(copy, "bad.parquet"));
        }
    }

    /// <summary>One unknown field of every compact wire type, with long-form ids so they follow any field.</summary>
    private static byte[] UnknownFieldsOfEveryType()
    {
        var buf = new ArrayBufferWriter<byte>();
        var w = new CompactWriter(buf);
        w.BeginStruct();
        w.Bool(200, true); w.Bool(201, false); w.Byte(202, 7); w.I32(203, -5);
        w.FieldHeader(204, CompactType.I16); w.WriteI32Value(300);
        w.I64(205, long.MinValue);
        w.FieldHeader(206, CompactType.Double); w.WriteDoubleValue(3.5);
        w.Binary(207, "future"u8);
        w.ListField(208, CompactType.I32, 20); for (int i = 0; i < 20; i++) w.WriteI32Value(i);
        w.FieldHeader(209, CompactType.Set); w.WriteByte(0x2 << 4 | (byte)CompactType.BoolTrue); w.WriteByte(1); w.WriteByte(2);
        w.FieldHeader(210, CompactType.Map); w.WriteVarint(2); w.WriteByte((byte)CompactType.Binary << 4 | (byte)CompactType.Struct);
        for (int i = 0; i < 2; i++) { w.WriteBinaryValue("k"u8); w.BeginStruct(); w.I32(1, i); w.StructField(2); w.BeginStruct(); w.EndStruct(); w.EndStruct(); }
        w.FieldHeader(211, CompactType.Map); w.WriteVarint(0);
        w.StructField(212); w.BeginStruct(); w.I32(1, 1); w.ListField(2, CompactType.Struct, 1); w.BeginStruct(); w.EndStruct(); w.EndStruct();
        w.EndStruct();
        // Drop the leading nothing and the final stop: the caller splices these fields into another struct.
        return buf.WrittenSpan[..^1].ToArray();
    }

    [Fact]
    public void UnknownThriftFieldsOfEveryTypeAreSkipped()
    {
        var p = Parts.Make();
        p.ReplaceDataPage(p.Page, p.Data[((int)p.Column.DataPageOffset - 4 + p.PageHeaderLength)..], UnknownFieldsOfEveryType());
        ReadsFine(p.Build(UnknownFieldsOfEveryType()));
    }

    [Fact]
    public void RowCountThatWouldAllocateGigabytesFails()
    {
        var p = Parts.Make();
        const long huge = 1_500_000_000;
        p.Meta.NumRows = huge; p.Meta.RowGroups[0].NumRows = huge; p.Column.NumValues = huge;
        var e = Fails(p.Build());
        Assert.Contains("limit", e.Message);
        Assert.Contains("'x'", e.Message);
    }

    [Fact]
    public void PageSizeThatWouldAllocateGigabytesFails()
    {
        var p = Parts.Make();
        var body = p.Data[((int)p.Column.DataPageOffset - 4 + p.PageHeaderLength)..];
        p.Page.UncompressedPageSize = 2_000_000_000;
        p.ReplaceDataPage(p.Page, body);
        var e = Fails(p.Build());
        Assert.Contains("limit", e.Message);
        Assert.Contains("page 0", e.Message);
        Assert.Contains("row group 0", e.Message);
    }

    [Fact]
    public void PageRunningPastTheChunkFails()
    {
        var p = Parts.Make();
        var body = p.Data[((int)p.Column.DataPageOffset - 4 + p.PageHeaderLength)..];
        p.ReplaceDataPage(p.Page, body);
        p.Page.CompressedPageSize += 1000;
        p.ReplaceDataPage(p.Page, body);
        Assert.Contains("past the end", Fails(p.Build()).Message);
    }

    [Fact]
    public void ChunkOutsideTheFileFails()
    {
        var p = Parts.Make();
        p.Column.DataPageOffset = 1L << 40;
        Assert.Contains("outside", Fails(p.Build()).Message);
    }

    [Fact]
    public void DictionaryIndexOutOfRangeFails()
    {
        var p = Parts.Make(dictionary: true);
        Assert.NotNull(p.Column.DictionaryPageOffset);
        // Bit width 3, one RLE run of 1000 copies of index 5 — the dictionary has only 4 entries.
        byte[] body = [3, .. Varint(1000 << 1), 5];
        p.Page.UncompressedPageSize = p.Page.CompressedPageSize = body.Length;
        p.ReplaceDataPage(p.Page, body);
        var e = Fails(p.Build());
        Assert.Contains("dictionary index 5", e.Message);
        Assert.Contains("column 'x'", e.Message);
    }

    [Fact]
    public void TooFewValuesInTheChunkFails()
    {
        var p = Parts.Make();
        var body = p.Data[((int)p.Column.DataPageOffset - 4 + p.PageHeaderLength)..];
        p.Page.NumValues = 10;
        p.ReplaceDataPage(p.Page, body[..40]);
        p.Page.UncompressedPageSize = p.Page.CompressedPageSize = 40;
        p.ReplaceDataPage(p.Page, body[..40]);
        Assert.Contains("1000 rows", Fails(p.Build()).Message);
    }

    private static byte[] Varint(int v)
    {
        var list = new List<byte>();
        while (v >= 0x80) { list.Add((byte)(v | 0x80)); v >>= 7; }
        list.Add((byte)v);
        return list.ToArray();
    }

    [Fact]
    public void MissingFileIsFileNotFound()
    {
        Assert.Throws<FileNotFoundException>(() => ParquetFileReader.Open("/no/such/file.parquet"));
    }
}
