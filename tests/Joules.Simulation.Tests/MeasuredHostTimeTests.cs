using Joules.Profiles;
using Joules.Profiles.Roofline;
using Joules.Simulation.Settings;
using Xunit;

namespace Joules.Simulation.Tests;

/// <summary>Host time measured per iteration (what `joules validate --iteration-log` replays): looked up by the moment an iteration begins, priced at idle power.</summary>
public class MeasuredHostTimeTests
{
    private static readonly ICostModel Roofline = new RooflineCostModel(Catalog.Gpu("h200"), Catalog.Model("llama-3.1-8b"));

    private static Scenario Scenario(string mode, int instances = 1) => new ScenarioSpec().With(SimulateSettings.Instances, instances)
        .With(SimulateSettings.CostModel, "roofline").With(SimulateSettings.Mode, mode).Resolve(null);

    [Fact]
    public void AnIterationPaysTheHostTimeOfTheMeasuredIterationRunningAtItsStart()
    {
        // Three measured iterations: periods from 0, 10 and 30 ms, engine calls ending at 9, 20 and 40 ms (idle 20-30 ms).
        var s = new HostTimeSeries([0, 0.010, 0.030], [0.009, 0.020, 0.040], [0.001, 0.002, 0.003]);
        Assert.Equal(0.001, s.At(-1));
        Assert.Equal(0.001, s.At(0));
        Assert.Equal(0.001, s.At(0.009));
        Assert.Equal(0.002, s.At(0.0099)); // nearer the next period than the end of the last engine call
        Assert.Equal(0.002, s.At(0.015));
        Assert.Equal(0.002, s.At(0.021)); // the server idled: the nearer of the two
        Assert.Equal(0.003, s.At(0.029));
        Assert.Equal(0.003, s.At(0.035));
        Assert.Equal(0.003, s.At(100));
        Assert.Equal(0.006, s.TotalSeconds, 15);
        Assert.Equal(0.002, s.MeanSeconds, 15);
        Assert.Throws<ArgumentException>(() => new HostTimeSeries([], [], []));
        Assert.Throws<ArgumentException>(() => new HostTimeSeries([0, 0.01], [0.005, 0.02], [0.001, -0.001]));
        Assert.Throws<ArgumentException>(() => new HostTimeSeries([0.01, 0], [0.02, 0.005], [0, 0]));
        Assert.Throws<ArgumentException>(() => new HostTimeSeries([0], [-1], [0]));
    }

    [Fact]
    public void OneHostTimeAllRunLongPricesAsTheMeanOverheadDoes()
    {
        var trace = SyntheticTrace.Poisson(1, 200, 20).ToList();
        var sc = Scenario("offline");
        var mean = ClusterSimulation.Run(sc.Cluster, HostOverheadCostModel.Wrap(Roofline, 0.0015), trace);
        var model = new MeasuredHostTimeCostModel(Roofline, new HostTimeSeries([0], [1e6], [0.0015]));
        var per = ClusterSimulation.Run(sc.Cluster, model, trace);
        Assert.Equal(mean.Iterations, per.Iterations);
        Assert.Equal(mean.SimulatedSeconds, per.SimulatedSeconds, mean.SimulatedSeconds * 1e-9);
        Assert.Equal(mean.EnergyJ, per.EnergyJ, mean.EnergyJ * 1e-9);
        Assert.Equal(mean.E2e.P50, per.E2e.P50, 1e-9);
        Assert.Equal("roofline", CostModelKinds.Of(model));
        Assert.Same(Roofline, CostModelKinds.Unwrap(model));
        Assert.Contains("1.5 ms/iteration host", model.Name);
        // The host time waits at idle power.
        var shape = IterationShape.Decode(8, 4000);
        model.BeginIteration(5, shape);
        Assert.Equal(Roofline.Estimate(shape).Joules + 0.0015 * Roofline.IdleWatts, model.Estimate(shape).Joules, 9);
    }

    [Fact]
    public void BurstsOfHostTimeLandOnTheIterationsAtTheirMomentWithOrWithoutTheFastPaths()
    {
        // 100 ms stretches alternating between no host time and 6 ms per iteration, as a loaded machine's come and go.
        var n = 400;
        var starts = Enumerable.Range(0, n).Select(i => i * 0.1).ToArray();
        var ends = starts.Select(t => t + 0.09).ToArray();
        var host = Enumerable.Range(0, n).Select(i => i % 2 == 0 ? 0 : 0.006).ToArray();
        var series = new HostTimeSeries(starts, ends, host);
        var trace = SyntheticTrace.Poisson(3, 300, 15).ToList();
        var sc = Scenario("online");
        var fast = ClusterSimulation.Run(sc.Cluster, new MeasuredHostTimeCostModel(Roofline, series), trace);
        var slow = ClusterSimulation.Run(sc.Cluster, new MeasuredHostTimeCostModel(Roofline, series), trace,
            options: new SimulationOptions { FastDecodeRuns = false, DeferDecodes = false });
        // A steady decode phase is priced step by step, each step told its own start: the same answer as one iteration at a time.
        Assert.Equal(slow.Iterations, fast.Iterations);
        Assert.Equal(slow.SimulatedSeconds, fast.SimulatedSeconds, slow.SimulatedSeconds * 1e-9);
        Assert.Equal(slow.EnergyJ, fast.EnergyJ, slow.EnergyJ * 1e-9);
        Assert.Equal(slow.E2e.P50, fast.E2e.P50, 1e-6);
        // And the bursts count: between no host time and 6 ms on every iteration.
        var none = ClusterSimulation.Run(sc.Cluster, Roofline, trace);
        var all = ClusterSimulation.Run(sc.Cluster, HostOverheadCostModel.Wrap(Roofline, 0.006), trace);
        Assert.InRange(fast.E2e.Mean, none.E2e.Mean * 1.01, all.E2e.Mean * 0.99);
    }

    [Fact]
    public void EveryInstanceKeepsItsOwnCurrentIteration()
    {
        var model = new MeasuredHostTimeCostModel(Roofline, new HostTimeSeries([0, 1], [0.5, 2], [0.001, 0.002]));
        var sim = new ClusterSimulation(Scenario("online", instances: 2).Cluster, model);
        Assert.NotSame(sim.Instances[0].CostModel, sim.Instances[1].CostModel);
        Assert.All(sim.Instances, i => Assert.Same(model.Series, Assert.IsType<MeasuredHostTimeCostModel>(i.CostModel).Series));
    }
}
