using Joules.Profiles;
using Joules.Traces;
using Xunit;

namespace Joules.Simulation.Tests;

/// <summary>Host power, communication and pricing-class accounting in the summary, against hand calculations.</summary>
public class SummaryAccountingTests
{
    private static readonly ICostModel Roof = SimulationLawTests.Roof;

    /// <summary>10 ms and 5 J per iteration, 1 J of it all-reduce; prefill iterations extrapolated, decodes exact; 50 W idle.</summary>
    private sealed class Tagged : ICostModel
    {
        public string Name => "tagged";
        public GpuSpec Gpu => Roof.Gpu;
        public ModelCard Model => Roof.Model;
        public int TensorParallel => 1;
        public double IdleWatts => 50;
        public IterationCost Estimate(in IterationShape s) =>
            new(0.01, 5) { CommSeconds = 0.002, CommJoules = 1, Pricing = s.PrefillSequences > 0 ? PricingClass.Extrapolated : PricingClass.Exact };
    }

    [Fact]
    public void CommunicationAndPricingClassesAddUpOverIterations()
    {
        // One request, 100 prompt tokens, 11 output tokens: 1 prefill iteration + 10 decode iterations.
        var s = ClusterSimulation.Run(new ClusterConfig { Instances = 1 }, new Tagged(), [new TraceRequest(1, 0, 100, 11)]);
        Assert.Equal(11, s.Iterations);
        Assert.Equal(55, s.BusyJoules, 9);
        Assert.Equal(11, s.CommJoules, 9);
        Assert.Equal(5, s.PricedExtrapolatedJoules, 9);
        Assert.Equal(50, s.PricedExactJoules, 9);
        Assert.Equal(5.0 / 55, s.ExtrapolatedShare, 12);
    }

    [Fact]
    public void HostEnergyIsTheServerCardIntegratedOverIdleAndBusyTime()
    {
        // An 8-GPU server whose non-GPU parts draw 800 W idle and 1,600 W busy, behind 90 % efficient supplies: per GPU
        // 100/0.9 = 111.1 W idle, 200/0.9 = 222.2 W busy, plus 1/0.9 - 1 = 11.1 % of the GPU's own draw.
        var node = new NodeSpec
        {
            Name = "test-node", Gpu = "h100-sxm", GpusPerNode = 8, PsuEfficiency = 0.9,
            Components = [new NodeComponent { Name = "everything", IdleWatts = 800, BusyWatts = 1600 }],
        };
        var cost = new Tagged();
        var cfg = new ClusterConfig { Instances = 2, Deployment = new Deployment(cost.Gpu, cost.Model, 1, node), Facility = new FacilityConfig(Pue: 1.5) };
        var s = ClusterSimulation.Run(cfg, cost, [new TraceRequest(1, 0, 100, 11), new TraceRequest(2, 1_000_000, 100, 11)]);
        // Each instance runs 11 iterations (0.11 s busy) over a span of 1.11 s; GPU energy per instance 55 J busy + 50 W x 1.0 s idle.
        Assert.Equal(1.11, s.SimulatedSeconds, 9);
        double h0 = 800 / 8 / 0.9, h1 = 1600 / 8 / 0.9, loss = 1 / 0.9 - 1;
        var gpuPerInstance = 55 + 50 * (1.11 - 0.11);
        var expected = 2 * (h0 * 1.11 + (h1 - h0) * 0.11 + loss * gpuPerInstance);
        Assert.Equal(expected, s.HostJoules, 6);
        Assert.Equal("test-node", s.Node);
        Assert.Equal((s.EnergyJ + s.HostJoules) * 1.5 / 3.6e6, s.FacilityKwh, 12);
        // --node none: GPU-only figures.
        var none = ClusterSimulation.Run(cfg with { Deployment = cfg.Deployment! with { Node = null } }, cost, [new TraceRequest(1, 0, 100, 11)]);
        Assert.Equal(0, none.HostJoules);
        Assert.Null(none.Node);
    }
}
