using Joules.Profiles.Measured;
using Xunit;

namespace Joules.Profiles.Tests;

/// <summary>`joules profile check`: one profile predicting points measured elsewhere.</summary>
public class ProfileCheckTests
{
    private static string Shipped => Path.Combine(Joules.Tests.RepoPaths.Calibration, "h200", "llama-3.1-8b", "profile.parquet");

    [Fact]
    public void AProfilePredictsItsOwnPointsAsMeasuredUpToThePowerCap()
    {
        var model = ProfileCostModel.FromFile(Shipped);
        var check = ProfileCheck.Run(model, model.Profile, "shipped", "shipped");
        Assert.Equal(model.Points.Count, check.Points.Count);
        // Pure prefill and decode points come back exactly, except the ones measured a few watts over the limit: the cap
        // stretches those (by at most their excess power, <= 3 %).
        var limit = model.Profile.Metadata.PowerLimitWatts;
        var pure = check.Points.Where(p => p.Point.Phase != ProfilePhase.Mixed).ToArray();
        static double Watts(ProfilePoint p) => p.EnergyJoules / p.IterationSeconds;
        var underTheCap = pure.Where(p => Watts(p.Point) <= limit).ToArray();
        Assert.NotEmpty(underTheCap);
        Assert.All(underTheCap, p => Assert.True(Math.Abs(p.TimeError) < 1e-9, $"{p.Point}: {p.TimeError:P4}"));
        Assert.All(pure.Except(underTheCap), p => Assert.True(Math.Abs(p.TimeError) <= Watts(p.Point) / limit - 1 + 1e-6, $"{p.Point}: {p.TimeError:P3} at {Watts(p.Point):F1} W"));
        Assert.True(pure.Max(p => Math.Abs(p.TimeError)) < 0.035, "pure points beyond the power-cap stretch");
        // The median is a capped point's stretch: the cuDNN profile's prefills draw 704-718 W under the 700 W limit.
        Assert.True(check.MedianTimeError < 0.015, $"median time {check.MedianTimeError:P4}");
        // Mixed points are priced by the fit with the grids' residuals, not reproduced exactly.
        Assert.True(check.WorstTimeError < 0.10, $"worst {check.WorstTimeError:P2}");
        Assert.True(check.MedianEnergyError < 0.02, $"median energy {check.MedianEnergyError:P2}");
    }

    [Fact]
    public void ACheckSaysWhenTheTwoProfilesWereMeasuredByDifferentEngines()
    {
        var model = ProfileCostModel.FromFile(Path.Combine(Joules.Tests.RepoPaths.Calibration, "h200", "llama-3.1-70b-tp8", "profile.parquet"));
        var meta = model.Profile.Metadata;
        Assert.StartsWith("joules work-list", meta.Extra["engine.decode_attention"]);

        // The same profile: nothing to say.
        var self = ProfileCheck.Run(model, model.Profile, "a", "a");
        Assert.Empty(self.EngineDifferences);
        Assert.Null(self.EngineUnknown);
        Assert.DoesNotContain("engines", self.ToMarkdown());

        // Another decode kernel recorded: named, value against value.
        var extra = new Dictionary<string, string>(meta.Extra) { ["engine.decode_attention"] = "joules split-KV single-pass" };
        var other = new MeasuredProfile(meta with { Extra = extra, ToolVersion = "0.1.0+other" }, model.Profile.Points);
        var check = ProfileCheck.Run(model, other, "a", "b");
        var d = Assert.Single(check.EngineDifferences);
        Assert.StartsWith("decode attention: joules work-list", d);
        Assert.EndsWith("vs joules split-KV single-pass", d);
        Assert.Contains("**Measured by different engines**", check.ToMarkdown());

        // A profile that predates the engine entries, from another build: the check cannot tell, and says so.
        var old = new MeasuredProfile(meta with { Extra = meta.Extra.Where(kv => !kv.Key.StartsWith("engine.")).ToDictionary(), ToolVersion = "0.1.0+9bd0827695e0" }, model.Profile.Points);
        var unknown = ProfileCheck.Run(model, old, "a", "c");
        Assert.Empty(unknown.EngineDifferences);
        Assert.Equal($"{meta.ToolVersion} vs 0.1.0+9bd0827695e0", unknown.EngineUnknown);
        Assert.Contains("**Engines not comparable**", unknown.ToMarkdown());
    }

    [Fact]
    public void ACardDrawingTenPercentMorePowerShowsAsATenPercentEnergyBias()
    {
        // A "second card": the same times, 10 % more energy at every point.
        var model = ProfileCostModel.FromFile(Shipped);
        var hungrier = new MeasuredProfile(model.Profile.Metadata with { GpuUuid = "GPU-second" },
            model.Profile.Points.Select(p => p with { EnergyJoules = p.EnergyJoules * 1.1 }).ToArray());
        var check = ProfileCheck.Run(model, hungrier, "shipped", "second");
        var exactPoints = check.Points.Where(p => p.Pricing == PricingClass.Exact).ToArray();
        Assert.NotEmpty(exactPoints);
        Assert.All(exactPoints, p => Assert.Equal(1 / 1.1 - 1, p.EnergyError, 9));
        Assert.InRange(check.MeanEnergyBias, -0.10, -0.07);
        Assert.Contains("GPU-second", check.ToMarkdown());
    }

    [Fact]
    public void ProfilesOfDifferentModelsCannotBeCompared()
    {
        var model = ProfileCostModel.FromFile(Shipped);
        var other = MeasuredProfile.Load(Path.Combine(Joules.Tests.RepoPaths.Calibration, "h200", "llama-3.1-70b-tp8", "profile.parquet"));
        Assert.Contains("llama-3.1-70b", Assert.Throws<ArgumentException>(() => ProfileCheck.Run(model, other, "a", "b")).Message);
    }
}
