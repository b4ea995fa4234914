using System.IO.Compression;
using FsCheck;
using FsCheck.Fluent;
using Joules.Traces.Canonical;
using Joules.Traces.Import;
using Joules.Traces.Synthesis;
using Xunit;

namespace Joules.Traces.Tests;

/// <summary>The one entry point for reading traces, and the validation it shares with import.</summary>
public class TraceSourceTests
{
    private readonly string _dir = TestData.TempDir();
    private static string Shipped => Path.Combine(TestData.RepoRoot, "traces", "azure-conv-5min.parquet");

    [Fact]
    public void CanonicalParquetStreamsWithItsCountKnownUpFrontAndCanBeReadTwice()
    {
        var s = TraceSource.Open(Shipped);
        Assert.True(s.Streams);
        Assert.Equal(1_612, s.Count);
        var first = s.Read().ToArray();
        Assert.Equal(first, s.Read().ToArray());
        Assert.Equal(1_612, s.Report.Imported); // the first pass only
        Assert.True(first.Zip(first.Skip(1)).All(p => p.First.ArrivalMicros <= p.Second.ArrivalMicros));
    }

    [Theory]
    [InlineData("azure2023_AzureLLMInferenceTrace_conv.csv", TraceFormat.Azure, 19_366)]
    [InlineData("mooncake_synthetic_trace.jsonl", TraceFormat.Mooncake, 3_993)]
    [InlineData("vidur_splitwise_conv.csv", TraceFormat.Vidur, -1)]
    public void EveryOtherLayoutIsImportedSortedAndNumbered(string file, TraceFormat format, long expected)
    {
        var s = TraceSource.Open(TestData.Shared(file));
        Assert.False(s.Streams);
        Assert.Equal(format, s.Report.Format);
        if (expected > 0) Assert.Equal(expected, s.Count);
        var rows = s.Read().ToArray();
        Assert.Equal(Enumerable.Range(0, rows.Length).Select(i => (long)i), rows.Select(r => r.RequestId));
        Assert.True(rows.Zip(rows.Skip(1)).All(p => p.First.ArrivalMicros <= p.Second.ArrivalMicros));
    }

    [Fact]
    public void DuplicateIdsAreAnErrorNamingTheRowUnlessRenumbered()
    {
        var csv = TestData.Write(_dir, "dups.csv", "request_id,arrival_time,input_tokens,output_tokens\n5,2024-01-01T00:00:00Z,1,1\n9,2024-01-01T00:00:01Z,1,1\n5,2024-01-01T00:00:02Z,1,1\n");
        var e = Assert.Throws<TraceFormatException>(() => TraceSource.Open(csv));
        Assert.Equal(4, e.Line);
        Assert.Equal("request_id", e.Column);
        Assert.Contains("--renumber", e.Message);
        var renumbered = TraceSource.Open(csv, new TraceImportOptions { Renumber = true }).Read().Select(r => r.RequestId);
        Assert.Equal([0L, 1, 2], renumbered);

        var parquet = Path.Combine(_dir, "dups.parquet");
        CanonicalTraceWriter.Write(parquet, [new TraceRequest(3, 1, 1, 1), new TraceRequest(4, 2, 1, 1), new TraceRequest(3, 3, 1, 1)]);
        var p = Assert.Throws<TraceFormatException>(() => TraceSource.Open(parquet).Read().ToList());
        Assert.Equal(3, p.Line);
        Assert.Equal([0L, 1, 2], TraceSource.Open(parquet, new TraceImportOptions { Renumber = true }).Read().Select(r => r.RequestId));
    }

    [Fact]
    public void TheIdCheckAgreesWithAHashSetOnEveryShapeOfIds()
    {
        var shapes = Gen.Choose(0, 3).SelectMany(kind => Gen.ArrayOf(Gen.Choose(0, 400), 60).Select(a => kind switch
        {
            0 => a.Select(x => (long)x).ToArray(),                                    // random small ids: many repeats
            1 => a.Select((x, i) => (long)i * 3 + (x % 7 == 0 ? -3 : 0)).ToArray(),   // increasing with gaps, a few steps back
            2 => a.Select((x, i) => (long)(i - x % 5)).ToArray(),                    // nearly sorted
            _ => a.Select((x, i) => (long)i).Reverse().ToArray(),                    // strictly decreasing
        }));
        Prop.ForAll(Arb.From(shapes), ids =>
        {
            var check = new RequestIdCheck();
            var seen = new HashSet<long>();
            return ids.All(id => check.Add(id) == seen.Add(id));
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void ZeroTokenRequestsAreKeptWithAWarningThatSaysWhatTheSimulatorDoes()
    {
        var csv = TestData.Write(_dir, "zero.csv", "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.68,374,0\n2023-11-16 18:15:47.00,0,3\n2023-11-16 18:15:48.00,5,0\n");
        var s = TraceSource.Open(csv);
        Assert.Equal(3, s.Count);
        var lines = s.Report.Lines().ToList();
        Assert.Contains("warning: 2 requests have 0 output tokens; the simulator generates 1 token for each (it uses max(1, n) output tokens)", lines);
        Assert.Contains(lines, l => l.StartsWith("warning: 1 request has 0 input tokens", StringComparison.Ordinal));
    }

    [Fact]
    public void FilesNoImporterCanReadAreNamedForWhatTheyAre()
    {
        string Fail(string name, Action<string> make)
        {
            var p = Path.Combine(_dir, name);
            make(p);
            return Assert.ThrowsAny<Exception>(() => TraceSource.Open(p)).Message;
        }
        Assert.Contains("is a folder", Fail("dir.parquet", p => Directory.CreateDirectory(p)));
        Assert.Contains("is empty (0 bytes)", Fail("e.csv", p => File.WriteAllBytes(p, [])));
        Assert.Contains("gzip-compressed", Fail("g.csv", p => { using var z = new GZipStream(File.Create(p), CompressionLevel.Fastest); z.Write("a,b\n"u8); }));
        Assert.Contains("binary file", Fail("b.csv", p => File.WriteAllBytes(p, [0x41, 0x00, 0x42, 0xFF, 0xFE])));
        Assert.Contains("truncated", Fail("t.parquet", p => File.WriteAllBytes(p, File.ReadAllBytes(Shipped)[..4000])));
        Assert.Contains("no such file", Fail("missing.parquet", _ => { }));
        Assert.Contains("holds no requests", Fail("zero.parquet", p => CanonicalTraceWriter.Write(p, Array.Empty<TraceRequest>())));
        Assert.Contains("yields no requests: it has no data rows", Fail("h.csv", p => File.WriteAllText(p, "TIMESTAMP,ContextTokens,GeneratedTokens\n")));
    }

    [Fact]
    public void TextWhoseProbeEndsInsideAMultiByteCharacterIsStillText()
    {
        // 8,191 ASCII bytes then "é" (2 bytes): the 8 KiB probe cuts the character in half.
        var body = "TIMESTAMP,ContextTokens,GeneratedTokens,x\n" + string.Concat(Enumerable.Repeat("2023-11-16 18:15:46.68,374,4,a\n", 400));
        body = body[..8191] + "é\n";
        var p = TestData.Write(_dir, "utf8.csv", body);
        Assert.Equal(TraceFile.Container.Csv, TraceFile.Sniff(p));
    }

    [Fact]
    public void AFailedOrCancelledImportLeavesThePreviousFileByteForByte()
    {
        var dest = Path.Combine(_dir, "out.parquet");
        File.Copy(Shipped, dest);
        var before = File.ReadAllBytes(dest);
        var bad = TestData.Write(_dir, "bad.csv", "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.68,374,4\n2023-11-16 18:15:47.68,x,4\n");
        Assert.Throws<TraceFormatException>(() => TraceFile.ImportTo(bad, dest));
        Assert.Equal(before, File.ReadAllBytes(dest));
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() => TraceFile.ImportTo(TestData.AzureConv, dest, cancel: cts.Token));
        Assert.Equal(before, File.ReadAllBytes(dest));
        var allSkipped = TestData.Write(_dir, "skipped.csv", "TIMESTAMP,ContextTokens,GeneratedTokens\nnope,1,1\n");
        var e = Assert.Throws<InvalidDataException>(() => TraceFile.ImportTo(allSkipped, dest, new TraceImportOptions { SkipInvalid = true }));
        Assert.Contains("all 1 rows were invalid", e.Message);
        Assert.Equal(before, File.ReadAllBytes(dest));
        Assert.Equal(["bad.csv", "out.parquet", "skipped.csv"], Directory.GetFiles(_dir).Select(Path.GetFileName).Order());
    }

    [Theory]
    [InlineData(".parquet", null)]
    [InlineData(".csv", null)]
    [InlineData(".parquet", "llama-3.1-8b")]
    public void TheSynthesisEstimateIsWithinAQuarterOfTheFile(string ext, string? model)
    {
        var options = new SynthesisOptions { Requests = 300_000, Rate = 20, Seed = 2, Model = model };
        var path = Path.Combine(_dir, "s" + ext);
        var estimate = SynthesisEstimate.For(options, path);
        var written = CanonicalTraceWriter.Write(path, new TraceSynthesizer(options, new LogNormalLengths(6.6, 0.8, 5.2, 0.8)).Generate(),
            columns: model is null ? OptionalColumns.None : OptionalColumns.Model);
        Assert.Equal(estimate.Requests, written);
        var actual = new FileInfo(path).Length;
        Assert.InRange((double)estimate.Bytes / actual, 0.75, 1.25);
    }
}
