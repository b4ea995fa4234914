using Joules.Profiles;
using Joules.Profiles.Measured;
using Joules.Profiles.Roofline;
using Joules.Simulation.Settings;
using Xunit;

namespace Joules.Simulation.Tests;

/// <summary>The simulator driven by the measured profiles shipped under calibration/: default choice, errors, and the energy laws.</summary>
public class ShippedProfileSimulationTests
{
    private static string CalibrationRoot => Joules.Tests.RepoPaths.Calibration;

    [Fact]
    public void TheDefaultScenarioIsPricedByAShippedMeasuredProfile()
    {
        var scenario = new ScenarioSpec().Resolve(CalibrationRoot);
        var cost = Assert.IsType<ProfileCostModel>(scenario.CreateCostModel());
        Assert.Equal(ScenarioSpec.DefaultModel, cost.Model.Name);
        Assert.Equal(scenario.Cost.Gpu.Name, cost.Gpu.Name);
        // The datasheet default GPU wins whenever it has a measured profile; otherwise a GPU that has one.
        var preferred = Path.Combine(CalibrationRoot, ScenarioSpec.DefaultGpu, ScenarioSpec.DefaultModel, "profile.parquet");
        if (File.Exists(preferred)) Assert.Equal(ScenarioSpec.DefaultGpu, cost.Gpu.Name);
        Assert.True(File.Exists(ProfileCostModel.DefaultPath(cost.Gpu.Name, cost.Model.Name, 1, CalibrationRoot)));
    }

    [Fact]
    public void WithoutShippedProfilesTheDefaultIsTheRooflineOfTheDefaultGpu()
    {
        var empty = Directory.CreateTempSubdirectory("joules-noprofiles-").FullName;
        try
        {
            foreach (var root in new[] { null, empty })
            {
                var scenario = new ScenarioSpec().Resolve(root);
                Assert.Equal(ScenarioSpec.DefaultGpu, scenario.Cost.Gpu.Name);
                Assert.IsType<RooflineCostModel>(scenario.CreateCostModel());
            }
        }
        finally { Directory.Delete(empty, true); }
    }

    [Fact]
    public void AGpuWithOnlyADerivedProfileIsPricedByItAndSaysSo()
    {
        var sc = new ScenarioSpec().With(SimulateSettings.Gpu, "h100-sxm").Resolve(CalibrationRoot);
        Assert.NotNull(sc.DerivedProfile);
        var cost = Assert.IsType<ProfileCostModel>(sc.CreateCostModel());
        Assert.True(cost.IsDerived);
        Assert.StartsWith("derived:h100-sxm/", cost.Name);
        Assert.Equal("derived", CostModelKinds.Of(cost));
        Assert.Null(sc.CostModelNote);
        // With no GPU named, the default stays on the GPU with a measured profile.
        Assert.Equal("h200", new ScenarioSpec().Resolve(CalibrationRoot).Cluster.Deployment!.Gpu.Name);
    }

    [Fact]
    public void AGpuWithoutAMeasuredProfileIsAClearErrorForTheProfileKind()
    {
        var missing = Catalog.Gpus.Keys.First(g => !File.Exists(ProfileCostModel.DefaultPath(g, "llama-3.1-8b", 1, CalibrationRoot)));
        var spec = new ScenarioSpec().With(SimulateSettings.Gpu, missing).With(SimulateSettings.CostModel, CostModelFactory.Profile);
        var e = Assert.Throws<ArgumentException>(() => spec.Resolve(CalibrationRoot).CreateCostModel());
        Assert.Contains($"no measured profile for {missing}", e.Message);
        Assert.Contains("--cost-model roofline", e.Message);
    }

    public static TheoryData<string> ShippedProfiles()
    {
        var data = new TheoryData<string>();
        foreach (var p in Directory.EnumerateFiles(CalibrationRoot, "profile.parquet", SearchOption.AllDirectories).Order()) data.Add(p);
        foreach (var p in Directory.EnumerateFiles(CalibrationRoot, Joules.Profiles.Derived.ProfileDeriver.FileName, SearchOption.AllDirectories).Order()) data.Add(p);
        return data;
    }

    [Theory]
    [MemberData(nameof(ShippedProfiles))]
    public void EnergyIsConservedUnderEveryShippedProfile(string profile)
    {
        var scenario = new ScenarioSpec().With(SimulateSettings.Profile, profile).With(SimulateSettings.Instances, 3).Resolve(CalibrationRoot);
        var cost = Assert.IsType<ProfileCostModel>(scenario.CreateCostModel());
        var trace = SimulationLawTests.Trace(seed: 7, count: 600, rate: 20, medianIn: 800, medianOut: 120);
        var (s, sink) = SimulationLawTests.Run(scenario.Cluster, trace, cost);
        Assert.Equal(trace.Count, s.RequestsCompleted);
        Assert.Equal(trace.Sum(r => (long)r.OutputTokens), sink.Requests.Sum(r => (long)r.OutputTokens));
        Assert.Equal(s.EnergyJ, s.BusyJoules + s.IdleJoules, 1e-9 * s.EnergyJ);
        Assert.Equal(s.BusyJoules, sink.Requests.Sum(r => r.EnergyJ), 1e-9 * s.BusyJoules);
        foreach (var i in s.PerInstance)
            Assert.Equal((s.SimulatedSeconds - i.BusySeconds) * cost.IdleWatts, i.IdleJoules, 1e-6 * (i.IdleJoules + 1));
        // Busy power stays between the measured idle floor and the GPUs' power limits.
        var busyWatts = s.BusyJoules / s.PerInstance.Sum(i => i.BusySeconds);
        Assert.InRange(busyWatts, cost.IdleWatts, cost.Profile.Metadata.PowerLimitWatts * cost.TensorParallel * 1.05);
    }
}
