using FsCheck;
using FsCheck.Fluent;
using Joules.Calibration.Measurement;
using Joules.Profiles;
using Joules.Profiles.Measured;
using Xunit;

namespace Joules.Calibration.Tests;

/// <summary>`calibrate --fit-to-memory`: a point that does not fit is measured at the longest decode context that does.</summary>
public class MemoryFitTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("joules-memfit-").FullName;
    private static readonly MeasurementOptions Fast = MeasurementOptions.Quick with { BackgroundSampling = false, Trials = 2, WindowSeconds = 0.5, SettleSeconds = 0.1, SettleMaxSeconds = 0.2, IdleWindowSeconds = 0.5, IdleTrials = 2 };

    public void Dispose() => Directory.Delete(_dir, recursive: true);

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

    [Fact]
    public void TheRunMeasuresStandInsListsTheGridPointsAsSkippedAndResumesWithoutRemeasuring()
    {
        var log = Path.Combine(_dir, "raw.jsonl");
        var plan = new CalibrationPlan
        {
            Model = Catalog.Model("llama-3.1-8b"), Grid = CalibrationGrid.Quick(), FitToMemory = true, ToolVersion = "test",
            Command = "joules calibrate --quick --fit-to-memory", CreatedUtc = new DateTimeOffset(2026, 12, 4, 21, 0, 0, TimeSpan.Zero),
        };
        (FakeWorkload, CalibrationRunner, StringWriter) Machine()
        {
            var gpu = new FakeGpu();
            var work = new FakeWorkload(gpu, FakeWorkload.DefaultLaw) { MemoryTokens = 200_000 };
            var progress = new StringWriter();
            return (work, new CalibrationRunner(gpu, work, gpu, Fast, progress), progress);
        }
        var (work, runner, progress) = Machine();
        var result = runner.Run(plan, log, force: false, clockControl: null, default);

        // The quick grid's decode b=128 and b=256 at 2048 need 262k and 524k tokens; 200k hold them at 1536 and 768.
        var skipped = result.Skipped.ToDictionary(s => s.Point, s => s.Reason);
        Assert.Equal(2, skipped.Count);
        Assert.EndsWith("measured as decode b=256 ctx=768 instead", skipped[new CalibrationPoint(Phase.Decode, 256, 1, 2048)]);
        Assert.EndsWith("measured as decode b=128 ctx=1536 instead", skipped[new CalibrationPoint(Phase.Decode, 128, 1, 2048)]);
        var decodes = result.Profile.Points.Where(p => p.Phase == ProfilePhase.Decode).Select(p => (p.BatchSize, p.ContextTokens)).ToHashSet();
        Assert.Contains((256, 768), decodes);
        Assert.Contains((128, 1536), decodes);
        Assert.DoesNotContain((256, 2048), decodes);
        // Every grid point is measured or listed as skipped, and the profile holds the grid's measured points plus the stand-ins.
        Assert.Equal(plan.Grid.Points.Count, result.Profile.Points.Count(p => p.Phase != ProfilePhase.Idle));
        foreach (var p in result.Profile.Points.Where(p => p.Phase == ProfilePhase.Decode))
        {
            var (t, _) = FakeWorkload.DefaultLaw(p.Shape);
            Assert.True(Math.Abs(p.IterationSeconds / t - 1) < 1e-6, $"{p}: time {p.IterationSeconds} vs {t}");
        }
        Assert.Matches(@"decode b=256 ctx=2048: does not fit \(needs \d+ KV tokens, 200000 fit\); measuring decode b=256 ctx=768 instead", progress.ToString());

        // Resumed: nothing is measured again.
        var (work2, runner2, _) = Machine();
        var again = runner2.Run(plan, log, force: false, clockControl: null, default);
        Assert.Empty(work2.Prepared);
        Assert.Equal(result.Profile.Points.Count, again.Profile.Points.Count);

        // Without the option the same grid point is only skipped, and the message says what the option would do.
        var (_, runner3, progress3) = Machine();
        var plain = runner3.Run(plan with { FitToMemory = false }, Path.Combine(_dir, "plain.jsonl"), force: false, clockControl: null, default);
        Assert.Equal(plan.Grid.Points.Count - 2, plain.Profile.Points.Count(p => p.Phase != ProfilePhase.Idle));
        Assert.Contains("--fit-to-memory measures it at the longest decode context that fits", progress3.ToString());
    }
}
