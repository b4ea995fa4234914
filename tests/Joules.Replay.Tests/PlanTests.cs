using FsCheck;
using FsCheck.Fluent;
using Joules.Traces;
using Xunit;

namespace Joules.Replay.Tests;

/// <summary>The replay schedule: which requests of a trace are sent and when.</summary>
public class PlanTests
{
    private static readonly long T0 = 1_700_000_000_000_000;

    private static List<TraceRequest> Trace(params double[] offsetsS) =>
        offsetsS.Select((s, i) => new TraceRequest(100 + i, T0 + (long)Math.Round(s * 1e6), 10 + i, 5 + i)).ToList();

    [Fact]
    public void TheWindowKeepsItsRequestsAndTimesStartAtItsFirst()
    {
        var plan = ReplayPlan.Build(Trace(0, 1, 2.5, 4, 6, 9), new ReplayWindow { StartS = 2, DurationS = 4 });
        Assert.Equal([102L, 103], plan.Select(p => p.RequestId));
        Assert.Equal([0.0, 1.5], plan.Select(p => p.SendS));
    }

    [Fact]
    public void RateScalingDividesEveryGapAndOfflineSendsAllAtOnce()
    {
        var scaled = ReplayPlan.Build(Trace(0, 1, 3), new ReplayWindow { RateScale = 2 });
        Assert.Equal([0.0, 0.5, 1.5], scaled.Select(p => p.SendS));
        var offline = ReplayPlan.Build(Trace(0, 1, 3), new ReplayWindow { Offline = true, Limit = 2 });
        Assert.Equal([0.0, 0.0], offline.Select(p => p.SendS));
    }

    [Fact]
    public void ZeroTokenCountsAreSentAsOneAsTheSimulatorRunsThem()
    {
        var plan = ReplayPlan.Build([new TraceRequest(1, T0, 0, 0)], new ReplayWindow());
        Assert.Equal((1, 1), (plan[0].InputTokens, plan[0].OutputTokens));
    }

    [Fact]
    public void AnEmptyWindowAndBadSettingsAreClearErrors()
    {
        var e = Assert.Throws<ArgumentException>(() => ReplayPlan.Build(Trace(0, 1), new ReplayWindow { StartS = 50 }));
        Assert.Contains("holds no request", e.Message);
        Assert.Contains("--rate-scale", Assert.Throws<ArgumentException>(() => ReplayPlan.Build(Trace(0), new ReplayWindow { RateScale = 0 })).Message);
        Assert.Contains("--limit", Assert.Throws<ArgumentException>(() => ReplayPlan.Build(Trace(0), new ReplayWindow { Limit = 0 })).Message);
        Assert.Contains("--duration", Assert.Throws<ArgumentException>(() => ReplayPlan.Build(Trace(0), new ReplayWindow { DurationS = -1 })).Message);
    }

    [Fact]
    public void ThePlanIsSortedInsideTheWindowAndScaledExactly() =>
        Prop.ForAll(Gen.Choose(0, 100000).ArrayOf().ToArbitrary(), Gen.Choose(1, 40).ToArbitrary(), (gaps, scale10) =>
        {
            long t = 0;
            // Whole milliseconds, so the trace's microsecond times hold them exactly.
            var offsets = gaps.Select(g => (t += g) / 1000.0).ToArray();
            if (offsets.Length == 0) return true;
            // Window offsets count from the trace's first arrival.
            var w = new ReplayWindow { StartS = 0.5, DurationS = 30, RateScale = scale10 / 10.0 };
            var inside = offsets.Select(o => o - offsets[0]).Where(o => o >= w.StartS && o < w.StartS + 30).ToArray();
            if (inside.Length == 0) return true;
            var plan = ReplayPlan.Build(Trace(offsets), w);
            return plan.Count == inside.Length
                && plan.Zip(inside).All(x => Math.Abs(x.First.SendS - (x.Second - inside[0]) / w.RateScale) < 1e-5)
                && plan.Zip(plan.Skip(1)).All(x => x.First.SendS <= x.Second.SendS);
        }).QuickCheckThrowOnFailure();

    [Fact]
    public void PromptTokensAreDeterministicPerRequestAndInRange()
    {
        var a = PromptTokens.For(42, 1000, 0);
        Assert.Equal(a, PromptTokens.For(42, 1000, 0));
        Assert.NotEqual(a, PromptTokens.For(43, 1000, 0));
        Assert.NotEqual(a, PromptTokens.For(42, 1000, 1));
        Assert.All(a, t => Assert.InRange(t, PromptTokens.Low, PromptTokens.High - 1));
        Assert.True(a.Distinct().Count() > 900);
    }
}
