using Joules.Calibration.Measurement;
using Xunit;

namespace Joules.Calibration.Tests;

public class GridTests
{
    [Fact]
    public void DefaultGridFitsFifteenMinutesAndQuickAboutThree()
    {
        var full = CalibrationGrid.Default();
        var quick = CalibrationGrid.Quick();
        Assert.True(full.EstimateDuration(MeasurementOptions.Default) <= TimeSpan.FromMinutes(15), $"default {full.EstimateDuration(MeasurementOptions.Default)}");
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
            Assert.True(int.IsPow2(p.NewTokens) && (long)p.NewTokens * p.BatchSize <= CalibrationGrid.MaxPrefillTokens, p.ToString());
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
