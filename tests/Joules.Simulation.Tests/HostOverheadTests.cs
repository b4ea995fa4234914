using Joules.Profiles;
using Joules.Profiles.Roofline;
using Joules.Simulation.Settings;
using Xunit;

namespace Joules.Simulation.Tests;

/// <summary>--iteration-overhead-ms: a stated host time per iteration, at idle power, on top of any cost model.</summary>
public class HostOverheadTests
{
    private static readonly ICostModel Roofline = new RooflineCostModel(Catalog.Gpu("h200"), Catalog.Model("llama-3.1-8b"));

    [Fact]
    public void EveryIterationAndEveryDecodeRunStepPaysTheOverheadAtIdlePower()
    {
        var o = HostOverheadCostModel.Wrap(Roofline, 0.0005);
        var shape = IterationShape.Decode(16, 1000);
        var inner = Roofline.Estimate(shape);
        var c = o.Estimate(shape);
        Assert.Equal(inner.Seconds + 0.0005, c.Seconds, 12);
        Assert.Equal(inner.Joules + 0.0005 * Roofline.IdleWatts, c.Joules, 9);
        var runs = Assert.IsAssignableFrom<IDecodeRunCostModel>(o);
        var r = runs.EstimateDecodeRun(16, 16000, 10);
        var ri = ((IDecodeRunCostModel)Roofline).EstimateDecodeRun(16, 16000, 10);
        Assert.Equal(ri.Seconds + 10 * 0.0005, r.Seconds, 12);
        Assert.Same(Roofline, HostOverheadCostModel.Wrap(Roofline, 0));
        Assert.Equal("roofline", CostModelKinds.Of(o));
    }

    [Fact]
    public void TheSettingSlowsASimulationByItsIterationsTimesTheOverhead()
    {
        var trace = SyntheticTrace.Poisson(1, 200, 20).ToList();
        SimulationSummary Run(double ms)
        {
            var sc = new ScenarioSpec().With(SimulateSettings.Instances, 1).With(SimulateSettings.CostModel, "roofline")
                .With(SimulateSettings.Mode, "offline").With(SimulateSettings.IterationOverheadMs, ms).Resolve(null);
            return ClusterSimulation.Run(sc.Cluster, sc.CreateCostModel(), trace);
        }
        var a = Run(0);
        var b = Run(1);
        Assert.Equal(a.Iterations, b.Iterations);
        Assert.Equal(a.SimulatedSeconds + a.Iterations * 0.001, b.SimulatedSeconds, 6);
        Assert.Throws<ArgumentException>(() => new ScenarioSpec().WithText(SimulateSettings.IterationOverheadMs, "-1", "--iteration-overhead-ms"));
    }
}
