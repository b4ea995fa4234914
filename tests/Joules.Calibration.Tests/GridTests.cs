using Joules.Calibration.Measurement;
using Xunit;

namespace Joules.Calibration.Tests;

public class GridTests
{
    [Fact]
    public void DefaultGridTakesAboutSeventeenMinutesAndQuickAboutThree()
    {
        var full = CalibrationGrid.Default();
        var quick = CalibrationGrid.Quick();
        Assert.True(full.EstimateDuration(MeasurementOptions.Default) <= TimeSpan.FromMinutes(17), $"default {full.EstimateDuration(MeasurementOptions.Default)}");
        Assert.InRange(quick.EstimateDuration(MeasurementOptions.Quick), TimeSpan.FromMinutes(1.5), TimeSpan.FromMinutes(3.5));
        foreach (var g in new[] { full, quick })
        {
            Assert.True(g.Count(Phase.Prefill) >= 6 && g.Count(Phase.Decode) >= 6 && g.Count(Phase.Mixed) >= 2, g.Name);
            Assert.Equal(g.Points.Count, g.Points.Distinct().Count());
        }
    }

    [Fact]
    public void PrefillNewTokensArePowersOfTwo()
    {
        foreach (var p in CalibrationGrid.Default().Points.Where(p => p.Phase == Phase.Prefill))
            Assert.True(int.IsPow2(p.NewTokens) && ((long)p.NewTokens * p.BatchSize <= CalibrationGrid.MaxPrefillTokens || CalibrationGrid.ServingPoints.Contains(p)), p.ToString());
    }

    [Fact]
    public void TheServingPointsFillTheBudgetAndReachLongPrefills()
    {
        // Issue 16: at least 12 budget-filling mixed points (8192 or 16384 tokens, 32-256 decodes at contexts 512-4096)
        // and prefills of 8k, 16k and 32k, in the default grid and in the serving grid (quick plus these).
        var mixed = CalibrationGrid.ServingPoints.Where(p => p.Phase == Phase.Mixed).ToList();
        Assert.True(mixed.Count(p => p.DecodeSequences <= 256) >= 12);
        Assert.Contains(mixed, p => p.DecodeSequences == 1024);
        Assert.All(mixed, p =>
        {
            Assert.Contains(p.BatchSize * p.NewTokens + p.DecodeSequences, new[] { 8192, 16384 });
            Assert.InRange(p.DecodeSequences, 32, 1024);
            Assert.InRange(p.DecodeContext, 512, 4096);
        });
        foreach (var n in new[] { 8192, 16384, 32768 })
            Assert.Contains(new CalibrationPoint(Phase.Prefill, 1, n, 0), CalibrationGrid.ServingPoints);
        // An offline backlog packs up to 23 prompts into one iteration (the shipped trace): the grid reaches 24 beside decodes and 32 alone.
        Assert.Contains(mixed, p => p.BatchSize >= 24);
        Assert.Contains(CalibrationGrid.ServingPoints, p => p.Phase == Phase.Prefill && p.BatchSize >= 32);
        var serving = CalibrationGrid.Named("serving");
        Assert.All(CalibrationGrid.ServingPoints, p => Assert.Contains(p, CalibrationGrid.Default().Points));
        Assert.All(CalibrationGrid.Quick().Points, p => Assert.Contains(p, serving.Points));
        Assert.Equal(serving.Points.Count, serving.Points.Distinct().Count());
        Assert.True(serving.EstimateDuration(MeasurementOptions.Quick) <= TimeSpan.FromMinutes(6), $"serving {serving.EstimateDuration(MeasurementOptions.Quick)}");
        Assert.Throws<ArgumentException>(() => CalibrationGrid.Named("huge"));
    }

    [Fact]
    public void PhasesFilterTheGridAndChangeItsFingerprint()
    {
        var decodeOnly = CalibrationGrid.Default(CalibrationGrid.ParsePhases("decode, idle"));
        Assert.All(decodeOnly.Points, p => Assert.Equal(Phase.Decode, p.Phase));
        Assert.NotEqual(CalibrationGrid.Default().Fingerprint([]), decodeOnly.Fingerprint([]));
        Assert.NotEqual(CalibrationGrid.Default().Fingerprint([]), CalibrationGrid.Default().Fingerprint([1200]));
        Assert.Equal(CalibrationGrid.Default().Fingerprint([]), CalibrationGrid.Default().Fingerprint([]));
    }

    [Fact]
    public void UnknownPhaseIsAClearError()
    {
        var e = Assert.Throws<ArgumentException>(() => CalibrationGrid.ParsePhases("prefill,decodes"));
        Assert.Contains("decodes", e.Message);
        Assert.Throws<ArgumentException>(() => CalibrationGrid.ParsePhases(" , "));
    }

    [Fact]
    public void ClockListsParseAndRejectNonsense()
    {
        Assert.Equal([1200u, 1500u, 1980u], ClockGuard.ParseClocks("1200, 1500,1980,1500"));
        Assert.Empty(ClockGuard.ParseClocks(null));
        Assert.Throws<ArgumentException>(() => ClockGuard.ParseClocks("1200,fast"));
        Assert.Throws<ArgumentException>(() => ClockGuard.ParseClocks("12"));
    }
}
