using FsCheck;
using FsCheck.Fluent;
using Joules.Profiles.Measured;
using Xunit;
using Xunit.Abstractions;

namespace Joules.Profiles.Tests;

public class ProfileCostModelTests(ITestOutputHelper output)
{
    [Fact]
    public void GridPointsAreReproducedExactly()
    {
        Prop.ForAll(Arb.From(Gen.Choose(0, 100000)), seed =>
        {
            // Noisy data: interpolation must still return each measured value at its own point.
            var profile = ProfileTestData.Make(ProfileTestData.Smooth, noise: 0.05, seed: seed);
            var model = new ProfileCostModel(profile);
            foreach (var p in profile.Points.Where(p => p.Phase is ProfilePhase.Prefill or ProfilePhase.Decode))
            {
                var (t, e, m) = model.EstimatePerGpu(p.Shape);
                if (m == EstimateMethod.Fit || t != p.IterationSeconds || e != p.EnergyJoules) return false;
            }
            return true;
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void ALinearLawIsRecoveredExactlyEverywhere()
    {
        var model = new ProfileCostModel(ProfileTestData.Make(ProfileTestData.Linear));
        var shapes = new[]
        {
            IterationShape.Prefill(3, 700),                       // between grid values: interpolation
            IterationShape.Decode(100, 3000),
            IterationShape.Decode(40, 1500).AddPrefill(300, 900), // mixed, off grid: the fit
            IterationShape.Prefill(2, 1500, 6000),                // chunked prefill over a cache: the fit
            IterationShape.Decode(512, 8000),                     // beyond the grid: the fit
        };
        foreach (var s in shapes)
        {
            var (t, e, method) = model.EstimatePerGpu(s);
            var (tt, te) = ProfileTestData.Linear(s);
            output.WriteLine($"{method}: t {t / tt - 1:P4} e {e / te - 1:P4}");
            // The fit spans the law, so it is exact, and interpolated measured/fitted ratios are all 1.
            Assert.Equal(tt, t, tt * 1e-6);
            Assert.Equal(te, e, te * 1e-6);
        }
        var cv = model.CrossValidate();
        Assert.True(cv.WorstTimeError < 1e-6 && cv.WorstEnergyError < 1e-6, $"worst {cv.WorstTimeError} {cv.WorstEnergyError}");
    }

    [Fact]
    public void HeldOutPointsOfASmoothLawAreRecovered()
    {
        var model = new ProfileCostModel(ProfileTestData.Make(ProfileTestData.Smooth, noise: 0.01, seed: 7));
        var cv = model.CrossValidate();
        foreach (var p in cv.Points) output.WriteLine($"{p.Point,-50} {p.Method,-22} t {p.TimeError,8:P2} e {p.EnergyError,8:P2}");
        output.WriteLine($"median t {cv.MedianTimeError:P2} e {cv.MedianEnergyError:P2}; worst t {cv.WorstTimeError:P2} e {cv.WorstEnergyError:P2}");
        Assert.Equal(model.Points.Count, cv.Count);
        Assert.True(cv.MedianTimeError < 0.03, $"median time error {cv.MedianTimeError:P2}");
        Assert.True(cv.MedianEnergyError < 0.03, $"median energy error {cv.MedianEnergyError:P2}");
        Assert.True(cv.WorstTimeError < 0.10, $"worst time error {cv.WorstTimeError:P2}");
        Assert.True(cv.WorstEnergyError < 0.10, $"worst energy error {cv.WorstEnergyError:P2}");
    }

    [Fact]
    public void OffGridShapesExtrapolatePositiveAndMonotoneInTokens()
    {
        var model = new ProfileCostModel(ProfileTestData.Make(ProfileTestData.Smooth, noise: 0.02, seed: 3));
        var previous = new IterationCost(0, 0);
        foreach (var tokens in new[] { 1, 3, 17, 100, 1000, 5000, 20000, 65536, 200000 })
        {
            var c = model.Estimate(IterationShape.Prefill(1, tokens));
            Assert.True(c.Seconds > 0 && c.Joules > 0);
            Assert.True(c.Seconds >= previous.Seconds && c.Joules >= previous.Joules, $"not monotone at {tokens}");
            previous = c;
        }
        previous = new IterationCost(0, 0);
        foreach (var batch in new[] { 1, 2, 300, 600, 1024, 4096 })
        {
            var c = model.Estimate(IterationShape.Decode(batch, 8192).AddPrefill(64, 0));
            Assert.True(c.Seconds > 0 && c.Joules > 0);
            Assert.True(c.Seconds >= previous.Seconds && c.Joules >= previous.Joules, $"not monotone at decode batch {batch}");
            previous = c;
        }
    }

    [Fact]
    public void EnergyScalesWithTensorParallelismAndIdleComesFromTheIdlePoint()
    {
        var one = new ProfileCostModel(ProfileTestData.Make(ProfileTestData.Smooth, tp: 1));
        var four = new ProfileCostModel(ProfileTestData.Make(ProfileTestData.Smooth, tp: 4));
        var s = IterationShape.Decode(64, 1024);
        Assert.Equal(4 * one.Estimate(s).Joules, four.Estimate(s).Joules, 1e-9);
        Assert.Equal(one.Estimate(s).Seconds, four.Estimate(s).Seconds);
        Assert.Equal(70, one.IdleWatts);
        Assert.Equal(280, four.IdleWatts);
        Assert.Equal(4, four.TensorParallel);
        Assert.Equal("h100-sxm", one.Gpu.Name);
        Assert.Contains("tp4", four.Name);
    }

    [Fact]
    public void EmptyShapeCostsNothing()
    {
        var model = new ProfileCostModel(ProfileTestData.Make(ProfileTestData.Smooth));
        Assert.Equal(new IterationCost(0, 0), model.Estimate(default));
    }

    [Fact]
    public void UnknownGpuGetsASpecBuiltFromTheProfile()
    {
        var p = ProfileTestData.Make(ProfileTestData.Smooth);
        var model = new ProfileCostModel(new MeasuredProfile(p.Metadata with { GpuName = "NVIDIA Imaginary 9000" }, p.Points));
        Assert.Equal("NVIDIA Imaginary 9000", model.Gpu.Name);
        Assert.Equal(700, model.Gpu.TdpWatts);
    }

    [Fact]
    public void ClockSweepPointsAreSelectedByTarget()
    {
        var basis = ProfileTestData.Make(ProfileTestData.Linear);
        var slow = basis.Points.Where(p => p.Phase != ProfilePhase.Idle).Select(p => p with { SmClockTarget = 1200, IterationSeconds = p.IterationSeconds * 1.5 });
        var profile = basis.WithPoints([.. basis.Points, .. slow]);
        var s = IterationShape.Decode(8, 1024);
        var dflt = new ProfileCostModel(profile).Estimate(s).Seconds;
        var locked = new ProfileCostModel(profile, smClockTarget: 1200).Estimate(s).Seconds;
        Assert.Equal(1.5 * dflt, locked, dflt * 1e-9);
        Assert.Throws<ArgumentException>(() => new ProfileCostModel(profile, smClockTarget: 999));
    }

    [Fact]
    public void FromFileBuildsTheModelFromASavedProfile()
    {
        var dir = Directory.CreateTempSubdirectory("joules-cm-").FullName;
        try
        {
            var path = ProfileCostModel.DefaultPath("h100-sxm", "llama-3.1-8b", root: dir);
            Assert.EndsWith(Path.Combine("h100-sxm", "llama-3.1-8b", "profile.parquet"), path);
            var profile = ProfileTestData.Make(ProfileTestData.Smooth, noise: 0.01);
            profile.Save(path);
            var s = IterationShape.Decode(48, 3000).AddPrefill(700, 0);
            Assert.Equal(new ProfileCostModel(profile).Estimate(s), ProfileCostModel.FromFile(path).Estimate(s));
            Assert.EndsWith("llama-3.1-70b-tp4", Path.GetDirectoryName(ProfileCostModel.DefaultPath("h100-sxm", "llama-3.1-70b", 4)));
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }
}

public class ProfileDecodeRunTests
{
    private static readonly Lazy<ProfileCostModel[]> s_models = new(() =>
    [
        new ProfileCostModel(ProfileTestData.Make(ProfileTestData.Smooth, noise: 0.05, seed: 3)),
        new ProfileCostModel(ProfileTestData.Make(ProfileTestData.Smooth, noise: 0.02, seed: 4, tp: 4)),
        // Real measurements, with a skipped corner (decode b=256 at 4096 did not fit) that forces fits inside the grid.
        .. Directory.EnumerateFiles(Joules.Tests.RepoPaths.Calibration, "profile.parquet", SearchOption.AllDirectories)
            .Order().Select(p => ProfileCostModel.FromFile(p)),
        // The derived profiles the simulator prices H100 runs with obey the same law.
        .. Directory.EnumerateFiles(Joules.Tests.RepoPaths.Calibration, Derived.ProfileDeriver.FileName, SearchOption.AllDirectories)
            .Order().Select(p => ProfileCostModel.FromFile(p)),
    ]);

    [Fact]
    public void ClosedFormDecodeRunEqualsTheSumOfItsSteps()
    {
        var models = s_models.Value;
        Assert.True(models.Length >= 5, "expected the shipped measured and derived profiles besides the synthetic ones");
        Prop.ForAll<ushort, ushort, ushort>((mb, ctx, steps) =>
        {
            var model = models[mb % models.Length];
            var batch = 1 + mb / models.Length % 300;
            // Start contexts below, inside and beyond the measured range (256..4096 per sequence).
            var contextSum = (long)batch * (1 + ctx % 9000);
            var k = 1 + steps % 3000;
            return DecodeRuns.MatchesItsSteps(model, batch, contextSum, k);
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void RunsThatStartOnAMeasuredContextOrCrossSeveralAreExact()
    {
        foreach (var model in s_models.Value)
        foreach (var (batch, perSeq, steps) in new[] { (64, 256, 5000), (64, 1024, 1), (8, 255, 2), (128, 1023, 4000), (1, 1, 9000) })
        {
            Assert.True(DecodeRuns.MatchesItsSteps(model, batch, (long)batch * perSeq, steps), $"{model.Name}: batch {batch}, context {perSeq}, {steps} steps");
        }
    }
}

/// <summary>The law every <see cref="IDecodeRunCostModel"/> obeys: a run costs the sum of its steps.</summary>
internal static class DecodeRuns
{
    public static bool MatchesItsSteps(IDecodeRunCostModel model, int batch, long contextSum, long steps)
    {
        double t = 0, j = 0;
        for (var i = 0; i < steps; i++)
        {
            var c = model.Estimate(IterationShape.Decode(batch, 0) with { DecodeContextTokens = contextSum + (long)batch * i });
            t += c.Seconds;
            j += c.Joules;
        }
        var run = model.EstimateDecodeRun(batch, contextSum, steps);
        return Math.Abs(run.Seconds - t) <= 1e-9 * t && Math.Abs(run.Joules - j) <= 1e-9 * j;
    }
}
