using FsCheck;
using FsCheck.Fluent;
using Joules.Calibration.Measurement;
using Xunit;

namespace Joules.Calibration.Tests;

/// <summary>`calibrate --fit-to-memory`: a point that does not fit is measured at the longest decode context that does.</summary>
public class MemoryFitTests
{
    // KV tokens an iteration holds, as FakeWorkload counts them.
    private static Func<CalibrationPoint, bool> Memory(long tokens) => p =>
    {
        var s = p.ToComposition().Shape;
        return s.PrefillTokens + s.PrefillContextTokens + s.DecodeContextTokens <= tokens;
    };

    [Fact]
    public void TheStandInHasTheLongestDecodeContextThatFitsInWholeSteps()
    {
        // 256 decodes in 200k tokens: 781 each at most, so 768 (256 + 8 steps of 64).
        Assert.Equal(new CalibrationPoint(Phase.Decode, 256, 1, 768), MemoryFit.StandIn(new CalibrationPoint(Phase.Decode, 256, 1, 4096), Memory(200_000)));
        // A budget-filling offline point: the chunk stays, the 1024 riding decodes get 383 each at most, so 320.
        var mixed = new CalibrationPoint(Phase.Mixed, 1, 7168, 0, 1024, 512);
        Assert.Equal(mixed with { DecodeContext = 320 }, MemoryFit.StandIn(mixed, Memory(400_000)));
        // Nothing to cut: prefills, decodes already at the shortest context, or memory too small for even that.
        Assert.Null(MemoryFit.StandIn(new CalibrationPoint(Phase.Prefill, 1, 32768, 0), Memory(1000)));
        Assert.Null(MemoryFit.StandIn(new CalibrationPoint(Phase.Decode, 8, 1, 256), Memory(1000)));
        Assert.Null(MemoryFit.StandIn(new CalibrationPoint(Phase.Decode, 256, 1, 4096), Memory(256 * 255)));
        Assert.Null(MemoryFit.StandIn(new CalibrationPoint(Phase.Mixed, 1, 16384, 0), Memory(1000)));
    }

    [Fact]
    public void AStandInFitsAndOneStepMoreWouldNot()
    {
        Prop.ForAll(Gen.Choose(1, 512).ToArbitrary(), Gen.Choose(257, 131072).ToArbitrary(), Gen.Choose(1, 40_000_000).ToArbitrary(), (batch, context, memory) =>
        {
            var point = new CalibrationPoint(Phase.Decode, batch, 1, context);
            var fits = Memory(memory);
            var standIn = MemoryFit.StandIn(point, fits);
            if (standIn is null) return !fits(point with { ContextTokens = MemoryFit.MinContext });
            var c = standIn.ContextTokens;
            return fits(standIn) && c >= MemoryFit.MinContext && c < context && (c - MemoryFit.MinContext) % MemoryFit.Step == 0
                   && (c + MemoryFit.Step >= context || !fits(point with { ContextTokens = c + MemoryFit.Step }));
        }).QuickCheckThrowOnFailure();
    }
}
