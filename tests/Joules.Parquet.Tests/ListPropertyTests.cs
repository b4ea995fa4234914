using FsCheck;
using FsCheck.Fluent;
using Xunit;
using PS = ParquetSharp;

namespace Joules.Parquet.Tests;

/// <summary>List columns read back exactly as written, by our writer and by Apache Arrow C++'s (ParquetSharp), for every codec, encoding, page version and row-group size.</summary>
public class ListPropertyTests
{
    private static readonly Gen<ListSpec> Specs =
        from rows in Gen.Choose(0, 2500)
        from seed in Gen.Choose(0, int.MaxValue)
        from nullLists in Gen.Elements(0, 5, 50, 100)
        from empty in Gen.Elements(0, 10, 60)
        from nullElements in Gen.Elements(0, 1, 30)
        from maxLen in Gen.Elements(0, 1, 5, 40)
        from longEvery in Gen.Elements(0, 0, 200)
        select new ListSpec(rows, seed, nullLists, empty, nullElements, maxLen, longEvery);

    private static readonly ParquetCodec[] Codecs = [ParquetCodec.None, ParquetCodec.Snappy, ParquetCodec.Zstd, ParquetCodec.Gzip, ParquetCodec.Brotli, ParquetCodec.Lz4Raw];

    [Fact]
    public void ListsRoundTripThroughOurWriter() =>
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(60), Prop.ForAll(Arb.From(
            from spec in Specs
            from codec in Gen.Elements(Codecs)
            from dict in Gen.Elements(true, false)
            from rowGroup in Gen.Choose(1, 1200)
            select (spec, codec, dict, rowGroup)), t =>
        {
            var data = ListSamples.Make(t.spec);
            var ms = new MemoryStream();
            // Small pages so long lists and many rows cross page boundaries.
            var options = new ParquetWriteOptions { Codec = t.codec, Dictionary = t.dict, RowGroupRows = t.rowGroup, DataPageBytes = 4096, DictionaryPageBytes = 2048 };
            using (var w = new ParquetFileWriter(ms, ListSamples.Schema, options, leaveOpen: true)) w.WriteRowGroup(data);
            ms.Position = 0;
            using var r = ParquetFileReader.Open(ms, $"{t.spec} {t.codec} dict={t.dict} rg={t.rowGroup}");
            for (int c = 0; c < ListSamples.Schema.Count; c++) Assert.Equal(ListSamples.Schema[c].TypeDescription, r.Schema[c].TypeDescription);
            Cells.AssertSameRows(data, r, r.Name);
            return true;
        }));

    [Fact]
    public void ListsWrittenByArrowReadBackExactly() =>
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(40), Prop.ForAll(Arb.From(
            from spec in Specs
            from codec in Gen.Elements(PS.Compression.Uncompressed, PS.Compression.Snappy, PS.Compression.Zstd, PS.Compression.Gzip, PS.Compression.Brotli, PS.Compression.Lz4)
            from encoding in Gen.Elements("dictionary", "plain", "delta")
            from v2 in Gen.Elements(true, false)
            from rowGroup in Gen.Choose(1, 1200)
            select (spec, codec, encoding, v2, rowGroup)), t =>
        {
            var data = ListSamples.Make(t.spec);
            var path = TestPaths.TempFile();
            try
            {
                Arrow.WriteLists(path, data, t.codec, t.encoding, t.v2, t.rowGroup);
                using var r = ParquetFileReader.Open(path);
                Assert.True(r.Schema["hash_ids"].IsList && r.Schema["tags"].Element!.IsOptional);
                Cells.AssertSameRows(data, r, $"{t.spec} {t.codec} {t.encoding} v2={t.v2} rg={t.rowGroup}");
            }
            finally { File.Delete(path); }
            return true;
        }));

    [Fact]
    public void ArrowReadsOurListsExactly() =>
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(25), Prop.ForAll(Arb.From(
            from spec in Specs
            from codec in Gen.Elements(Codecs)
            from dict in Gen.Elements(true, false)
            select (spec, codec, dict)), t =>
        {
            var data = ListSamples.Make(t.spec);
            var path = TestPaths.TempFile();
            try
            {
                using (var w = new ParquetFileWriter(path, ListSamples.Schema, new ParquetWriteOptions { Codec = t.codec, Dictionary = t.dict, RowGroupRows = 700, DataPageBytes = 4096 }))
                    w.WriteRowGroup(data);
                Arrow.AssertReadsLists(path, data, $"{t.spec} {t.codec} dict={t.dict}");
            }
            finally { File.Delete(path); }
            return true;
        }));
}
