using FsCheck;
using FsCheck.Fluent;
using Joules.Traces.Canonical;
using Joules.Traces.Import;
using Joules.Traces.Stats;
using Joules.Traces.Synthesis;
using Joules.Traces.Transform;
using Xunit;

namespace Joules.Traces.Tests;

/// <summary>Laws of import, transformation and synthesis checked on generated traces.</summary>
public class PropertyTests
{
    private static readonly Arbitrary<TraceRequest[]> Traces = Arb.From(
        Gen.Choose(0, 200).SelectMany(n =>
            Gen.ArrayOf(
                from gap in Gen.Choose(0, 5_000_000)
                from input in Gen.Choose(0, 50_000)
                from output in Gen.Choose(0, 5_000)
                select (gap, input, output), n))
        .Select(rows => TestData.Build(rows)));

    private static long Tokens(IEnumerable<TraceRequest> t, bool input) => t.Sum(r => (long)(input ? r.InputTokens : r.OutputTokens));

    [Theory]
    [InlineData(".csv")]
    [InlineData(".parquet")]
    public void CanonicalWriteThenReadIsIdentity(string ext)
    {
        var dir = TestData.TempDir();
        Prop.ForAll(Traces, trace =>
        {
            var p = Path.Combine(dir, Guid.NewGuid().ToString("N") + ext);
            CanonicalTraceWriter.Write(p, trace);
            var back = CanonicalTraceReader.Read(p).ToArray();
            File.Delete(p);
            return back.SequenceEqual(trace);
        }).QuickCheckThrowOnFailure();
    }

    [Theory]
    [InlineData(".csv")]
    [InlineData(".parquet")]
    public void ImportOfWrittenTraceKeepsEverything(string ext)
    {
        var dir = TestData.TempDir();
        Prop.ForAll(Traces, trace =>
        {
            var p = Path.Combine(dir, Guid.NewGuid().ToString("N") + ext);
            CanonicalTraceWriter.Write(p, trace);
            var imported = TraceFile.Import(p);
            File.Delete(p);
            return imported.Requests.SequenceEqual(trace) && imported.Report.Imported == trace.Length && imported.Report.Skipped == 0;
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void TileKTimesMultipliesCountsAndTokens()
    {
        Prop.ForAll(Traces, Arb.From(Gen.Choose(1, 5)), (trace, k) =>
        {
            var tiled = TraceTransforms.Tile(() => trace, k).ToArray();
            var sorted = tiled.Zip(tiled.Skip(1)).All(p => p.First.ArrivalMicros <= p.Second.ArrivalMicros);
            return tiled.Length == k * trace.Length
                && Tokens(tiled, true) == k * Tokens(trace, true)
                && Tokens(tiled, false) == k * Tokens(trace, false)
                && sorted
                && tiled.Select(r => r.RequestId).SequenceEqual(Enumerable.Range(0, tiled.Length).Select(i => (long)i));
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void AdjacentSlicesPartitionATrace()
    {
        Prop.ForAll(Traces, Arb.From(Gen.Choose(0, 1000)), (trace, cutPermille) =>
        {
            if (trace.Length == 0) return true;
            var first = trace[0].ArrivalMicros;
            var last = trace[^1].ArrivalMicros;
            var cut = first + (last - first) * cutPermille / 1000;
            var a = TraceTransforms.Slice(trace, first, cut).ToArray();
            var b = TraceTransforms.Slice(trace, cut, last + 1).ToArray();
            return a.Concat(b).SequenceEqual(trace);
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void MergeIsTheSumAndSorted()
    {
        Prop.ForAll(Traces, Traces, (x, y) =>
        {
            var m = TraceTransforms.Merge([x, y]).ToArray();
            return m.Length == x.Length + y.Length
                && Tokens(m, true) == Tokens(x, true) + Tokens(y, true)
                && Tokens(m, false) == Tokens(x, false) + Tokens(y, false)
                && m.Zip(m.Skip(1)).All(p => p.First.ArrivalMicros <= p.Second.ArrivalMicros);
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void ScaleRateConservesRequestsAndTokensAndDividesSpan()
    {
        Prop.ForAll(Traces, Arb.From(Gen.Elements(0.5, 2.0, 4.0)), (trace, f) =>
        {
            var s = TraceTransforms.ScaleRate(trace, f).ToArray();
            if (s.Length != trace.Length) return false;
            if (trace.Length == 0) return true;
            var span = trace[^1].ArrivalMicros - trace[0].ArrivalMicros;
            var scaled = s[^1].ArrivalMicros - s[0].ArrivalMicros;
            return Math.Abs(scaled - span / f) <= 1 && Tokens(s, true) == Tokens(trace, true)
                && s.Select(r => r.InputTokens).SequenceEqual(trace.Select(r => r.InputTokens));
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void SampleIsASubsetAndReproducible()
    {
        Prop.ForAll(Traces, Arb.From(Gen.Choose(0, 100)), (trace, pct) =>
        {
            var a = TraceTransforms.Sample(trace, pct / 100.0, 42).ToArray();
            var b = TraceTransforms.Sample(trace, pct / 100.0, 42).ToArray();
            var ids = trace.Select(r => r.RequestId).ToHashSet();
            return a.SequenceEqual(b) && a.All(r => ids.Contains(r.RequestId)) && a.Length <= trace.Length;
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void SynthesisIsDeterministicForASeed()
    {
        var lengths = new LogNormalLengths(6, 1, 4, 1);
        Prop.ForAll(Arb.From(Gen.Choose(0, 10_000)), Arb.From(Gen.Choose(0, 3000)), (seed, n) =>
        {
            var o = new SynthesisOptions { Requests = n, Rate = 20, Arrival = ArrivalProcess.Gamma, Cv = 2, DiurnalAmplitude = 0.3, Seed = seed };
            var a = new TraceSynthesizer(o, lengths).Generate().ToArray();
            var b = new TraceSynthesizer(o, lengths).Generate().ToArray();
            return a.Length == n && a.SequenceEqual(b);
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void StatisticsSumsMatchAndBinsCoverEveryRequest()
    {
        Prop.ForAll(Traces, trace =>
        {
            var s = TraceStatistics.Compute(trace);
            return s.Requests == trace.Length
                && s.InputTokens.Sum == Tokens(trace, true)
                && s.OutputTokens.Sum == Tokens(trace, false)
                && s.Bins.Sum(b => b.Count) == trace.Length
                && s.Bins.All(b => b.Count > 0);
        }).QuickCheckThrowOnFailure();
    }
}
