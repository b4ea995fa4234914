using FsCheck;
using FsCheck.Fluent;
using Xunit;

namespace Joules.Parquet.Tests;

/// <summary>Writer → reader round trips of random columns of every type, with nulls, codecs, dictionary on/off and row-group sizes.</summary>
public class PropertyTests
{
    /// <summary>The shape of one random file; values come from <see cref="Seed"/> so a failing case prints compactly.</summary>
    public sealed record Spec(int Rows, int RowGroupRows, ParquetCodec Codec, bool Dictionary, int NullPercent, int Seed, int DictionaryBytes)
    {
        public override string ToString() => $"rows={Rows} rg={RowGroupRows} codec={Codec} dict={Dictionary}/{DictionaryBytes} nulls={NullPercent}% seed={Seed}";
    }

    private static readonly Gen<Spec> Specs =
        from rows in Gen.Choose(0, 3000)
        from rg in Gen.Choose(1, 1500)
        from codec in Gen.Elements(ParquetCodec.None, ParquetCodec.Snappy, ParquetCodec.Zstd, ParquetCodec.Gzip, ParquetCodec.Brotli, ParquetCodec.Lz4Raw)
        from dict in Gen.Elements(true, false)
        from nulls in Gen.Elements(0, 1, 30, 100)
        from seed in Gen.Choose(0, int.MaxValue)
        from dictBytes in Gen.Elements(64, 4096, 1 << 20)
        select new Spec(rows, rg, codec, dict, nulls, seed, dictBytes);

    private static ParquetSchema Schema(bool optional) => new(
        ParquetColumn.Boolean("b", optional),
        ParquetColumn.Int32("i32", optional),
        ParquetColumn.Int64("i64", optional),
        ParquetColumn.Float("f32", optional),
        ParquetColumn.Double("f64", optional),
        ParquetColumn.String("s", optional),
        ParquetColumn.Binary("bin", optional),
        ParquetColumn.FixedLenByteArray("fixed", 5, optional),
        ParquetColumn.Timestamp("ts_ms", TimeUnit.Millis, utc: true, optional),
        ParquetColumn.Timestamp("ts_ns", TimeUnit.Nanos, utc: false, optional),
        new ParquetColumn("i8", PhysicalType.Int32, ParquetLogicalType.Int(8), optional));

    private static readonly string[] Words = ["", "a", "llama", "ünïcødé", "日本語", "emoji 😀", "x\0y", new string('z', 300)];

    private static ColumnData[] Data(Spec spec, bool optional)
    {
        var rng = new Random(spec.Seed);
        int n = spec.Rows;
        // Low-cardinality pools for some seeds so the dictionary path is used as well as the fallback.
        int card = rng.Next(3) switch { 0 => 3, 1 => 200, _ => int.MaxValue };
        bool[]? Valid() => !optional ? null : Enumerable.Range(0, n).Select(_ => rng.Next(100) >= spec.NullPercent).ToArray();
        int Pick() => card == int.MaxValue ? rng.Next() : rng.Next(card);
        long L() => Pick() switch { var k when k % 17 == 0 => long.MinValue, var k when k % 19 == 0 => long.MaxValue, var k => (long)k * 1_000_003 - 7 };
        double D() => Pick() switch { var k when k % 13 == 0 => double.NaN, var k when k % 11 == 0 => -0.0, var k when k % 23 == 0 => double.PositiveInfinity, var k => k * 0.37 - 5 };
        string S() => card == int.MaxValue ? Words[rng.Next(Words.Length)] + rng.Next() : Words[Pick() % Words.Length] + (Pick() % 50);

        var b = new bool[n]; var i32 = new int[n]; var i64 = new long[n]; var f32 = new float[n]; var f64 = new double[n];
        var s = new string?[n]; var bin = new byte[]?[n]; var fixedLen = new byte[]?[n]; var ms = new long[n]; var ns = new long[n]; var i8 = new int[n];
        for (int i = 0; i < n; i++)
        {
            b[i] = rng.Next(2) == 0; i32[i] = (int)L(); i64[i] = L(); f32[i] = (float)D(); f64[i] = D();
            s[i] = S(); bin[i] = System.Text.Encoding.UTF8.GetBytes(S()); fixedLen[i] = BitConverter.GetBytes(L())[..5];
            ms[i] = L() / 1000; ns[i] = L(); i8[i] = (sbyte)Pick();
        }
        var vs = Enumerable.Range(0, 11).Select(_ => Valid()).ToArray();
        // Reference-typed columns mark nulls by null references too.
        for (int i = 0; i < n; i++)
        {
            if (vs[5] is { } v5 && !v5[i]) s[i] = null;
            if (vs[6] is { } v6 && !v6[i]) bin[i] = null;
        }
        return [ColumnData.From(b, vs[0]), ColumnData.From(i32, vs[1]), ColumnData.From(i64, vs[2]), ColumnData.From(f32, vs[3]), ColumnData.From(f64, vs[4]),
            ColumnData.From(s), ColumnData.From(bin), ColumnData.From(fixedLen, vs[7]), ColumnData.From(ms, vs[8]), ColumnData.From(ns, vs[9]), ColumnData.From(i8, vs[10])];
    }

    private static bool RoundTrips(Spec spec, bool optional)
    {
        var schema = Schema(optional);
        var data = Data(spec, optional);
        var ms = new MemoryStream();
        using (var w = new ParquetFileWriter(ms, schema, new ParquetWriteOptions
               { Codec = spec.Codec, RowGroupRows = spec.RowGroupRows, Dictionary = spec.Dictionary, DictionaryPageBytes = spec.DictionaryBytes, DataPageBytes = 4096 }, leaveOpen: true))
            w.WriteRowGroup(data);
        ms.Position = 0;
        using var r = ParquetFileReader.Open(ms, "roundtrip");
        Assert.Equal(spec.Rows, r.RowCount);
        Assert.Equal(spec.Rows == 0 ? 0 : (spec.Rows + spec.RowGroupRows - 1) / spec.RowGroupRows, r.RowGroupCount);
        for (int c = 0; c < schema.Count; c++)
        {
            Assert.Equal(schema[c].TypeDescription, r.Schema[c].TypeDescription);
            Assert.Equal(schema[c].IsOptional, r.Schema[c].IsOptional);
        }
        int row = 0;
        foreach (var g in r.ReadRowGroups())
        {
            for (int c = 0; c < schema.Count; c++)
            {
                var expected = data[c];
                var actual = g.Columns[c];
                for (int i = 0; i < g.RowCount; i++)
                {
                    bool nullExpected = expected.IsNull(row + i);
                    Assert.True(nullExpected == actual.IsNull(i), $"{spec} column {schema[c].Name} row {row + i}: null {nullExpected} vs {actual.IsNull(i)}");
                    if (nullExpected) continue;
                    var e = expected.GetValue(row + i);
                    var a = actual.GetValue(i);
                    bool same = (e, a) switch
                    {
                        (double x, double y) => BitConverter.DoubleToInt64Bits(x) == BitConverter.DoubleToInt64Bits(y),
                        (float x, float y) => BitConverter.SingleToInt32Bits(x) == BitConverter.SingleToInt32Bits(y),
                        (byte[] x, byte[] y) => x.AsSpan().SequenceEqual(y),
                        _ => Equals(e, a),
                    };
                    Assert.True(same, $"{spec} column {schema[c].Name} row {row + i}: wrote {e}, read {a}");
                }
            }
            row += g.RowCount;
        }
        Assert.Equal(spec.Rows, row);
        return true;
    }

    [Fact]
    public void RequiredColumnsRoundTrip() =>
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(40), Prop.ForAll(Arb.From(Specs), spec => RoundTrips(spec, optional: false)));

    [Fact]
    public void OptionalColumnsWithNullsRoundTrip() =>
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(40), Prop.ForAll(Arb.From(Specs), spec => RoundTrips(spec, optional: true)));

    [Fact]
    public void RleBitPackedHybridRoundTripsAnyRuns() =>
        Prop.ForAll(Arb.From(from width in Gen.Choose(1, 20) from values in Gen.ArrayOf(Gen.Choose(0, 3)) from seed in Gen.Choose(0, 1000) select (width, values, seed)),
            t =>
            {
                // Mix runs with noise: the encoder must choose RLE and bit-packing correctly either way.
                var rng = new Random(t.seed);
                var vals = t.values.SelectMany(v => Enumerable.Repeat(rng.Next(1 << t.width), v * rng.Next(1, 12))).ToArray();
                var enc = new Encodings.RleBitPackedEncoder();
                enc.Encode(vals, t.width);
                var back = new int[vals.Length];
                Encodings.RleBitPacked.Decode(enc.Written, t.width, back);
                return back.AsSpan().SequenceEqual(vals);
            }).QuickCheckThrowOnFailure();

    [Fact]
    public void OneBitLevelsRoundTripFromAndToBooleans() =>
        Prop.ForAll(Arb.From(from runs in Gen.ArrayOf(Gen.Choose(1, 40)) from seed in Gen.Choose(0, 1000) select (runs, seed)),
            t =>
            {
                // Runs of equal booleans mixed with noise, as validity arrays look: encoded straight from bools, decoded both ways.
                var rng = new Random(t.seed);
                var bits = t.runs.SelectMany(r => rng.Next(3) == 0 ? Enumerable.Range(0, r).Select(_ => rng.Next(2) == 0) : Enumerable.Repeat(rng.Next(2) == 0, r)).ToArray();
                var enc = new Encodings.RleBitPackedEncoder();
                enc.EncodeBits(bits);
                var back = new bool[bits.Length];
                int ones = Encodings.RleBitPacked.DecodeBits(enc.Written, back);
                var ints = new int[bits.Length];
                Encodings.RleBitPacked.Decode(enc.Written, 1, ints);
                return back.AsSpan().SequenceEqual(bits) && ones == bits.Count(b => b) && ints.Select(i => i == 1).SequenceEqual(bits);
            }).QuickCheckThrowOnFailure();

    [Fact]
    public void StatisticsAreWrittenAndReadableByOtherTools()
    {
        // min/max/null counts land in the footer; DuckDB's reading of them is covered by InteropTests.
        var ms = new MemoryStream();
        using (var w = new ParquetFileWriter(ms, new ParquetSchema(ParquetColumn.Int32("x", optional: true), ParquetColumn.String("s")), leaveOpen: true))
            w.WriteRowGroup(ColumnData.From(new[] { 5, -3, 0, 9 }, new[] { true, true, false, true }), ColumnData.From(new[] { "b", "a", "é", "c" }));
        var bytes = ms.ToArray();
        int footerLen = BitConverter.ToInt32(bytes, bytes.Length - 8);
        var meta = Format.FileMetaData.Read(new Thrift.CompactReader(bytes, bytes.Length - 8 - footerLen, footerLen));
        var x = meta.RowGroups[0].Columns[0].MetaData!.Statistics!;
        Assert.Equal(1, x.NullCount);
        Assert.Equal(-3, BitConverter.ToInt32(x.MinValue!));
        Assert.Equal(9, BitConverter.ToInt32(x.MaxValue!));
        var s = meta.RowGroups[0].Columns[1].MetaData!.Statistics!;
        Assert.Equal("a", System.Text.Encoding.UTF8.GetString(s.MinValue!));
        Assert.Equal("é", System.Text.Encoding.UTF8.GetString(s.MaxValue!));
        Assert.Null(s.Min); // the legacy signed-order fields are not written for strings
        Assert.Equal(ConvertedTypeOf(meta, "s"), (int)Format.ConvertedType.Utf8);
    }

    private static int? ConvertedTypeOf(Format.FileMetaData meta, string name) => (int?)meta.Schema.First(e => e.Name == name).ConvertedType;
}

/// <summary>Our SNAPPY page codec (Snappier) agrees with IronSnappy (an independent implementation) in both directions.</summary>
public class SnappyTests
{
    private static readonly Gen<byte[]> Blocks =
        from len in Gen.Choose(0, 200_000)
        from seed in Gen.Choose(0, int.MaxValue)
        from alphabet in Gen.Elements(1, 2, 4, 16, 256)
        from runs in Gen.Elements(true, false)
        select Make(len, seed, alphabet, runs);

    private static byte[] Make(int len, int seed, int alphabet, bool runs)
    {
        var rng = new Random(seed);
        var b = new byte[len];
        for (int i = 0; i < len;)
        {
            int run = runs ? rng.Next(1, 100) : 1;
            byte v = (byte)rng.Next(alphabet);
            for (int k = 0; k < run && i < len; k++) b[i++] = v;
        }
        return b;
    }

    [Fact]
    public void EncoderAndDecoderMatchIronSnappy() =>
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(60), Prop.ForAll(Arb.From(Blocks), data =>
        {
            byte[] buf = [];
            int n = Codecs.Compression.Compress(Format.CompressionCodec.Snappy, data, ref buf, 0);
            Assert.Equal(data, IronSnappy.Snappy.Decode(buf.AsSpan(0, n)));
            var theirs = IronSnappy.Snappy.Encode(data);
            var back = new byte[data.Length];
            Codecs.Compression.Decompress(Format.CompressionCodec.Snappy, theirs, back);
            Assert.Equal(data, back);
            Codecs.Compression.Decompress(Format.CompressionCodec.Snappy, buf.AsSpan(0, n), back);
            Assert.Equal(data, back);
            return true;
        }));
}
