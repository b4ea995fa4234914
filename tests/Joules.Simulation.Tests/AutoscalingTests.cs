using Joules.Profiles;
using Joules.Simulation.Autoscaling;
using Joules.Traces;
using Xunit;

namespace Joules.Simulation.Tests;

/// <summary>Power states and autoscaling, against hand calculations.</summary>
public class AutoscalingTests
{
    private static readonly ICostModel Roof = SimulationLawTests.Roof;

    [Fact]
    public void AColdStartIsTheWeightShardOverTheLoadBandwidthPlusTheEngineStart()
    {
        var cold = new ColdStartSpec { NvmeGBs = 2, HostMemoryGBs = 20, NetworkGBs = 1.25, EngineStartSeconds = 20 };
        var shard = Catalog.Model("llama-3.1-8b").Shard(1);
        Assert.Equal(shard.WeightBytesPerGpu / 2e9 + 20, cold.Seconds(shard.WeightBytesPerGpu, WeightSource.Nvme), 9);
        Assert.Equal(shard.WeightBytesPerGpu / 20e9 + 20, cold.Seconds(shard.WeightBytesPerGpu, WeightSource.HostMemory), 9);
        // 70B at tp 8: each GPU loads its eighth.
        var s70 = Catalog.Model("llama-3.1-70b").Shard(8);
        Assert.Equal(s70.WeightBytesPerGpu / 1.25e9 + 20, cold.Seconds(s70.WeightBytesPerGpu, WeightSource.Network), 9);
    }

    [Fact]
    public void TheReactivePolicyIsHpasFormulaWithToleranceAndStabilisation()
    {
        var hpa = new ReactiveAutoscaler(new AutoscalerConfig { Kind = "reactive", Target = 16, ScaleDownWindowSeconds = 60 });
        static AutoscaleSignal S(double t, int current, long inFlight) => new(t, 0, current, inFlight, 0, 0, 0, 0);
        // 2 instances with 64 requests in flight: 32 each against 16, ratio 2 -> ceil(2 x 2) = 4.
        Assert.Equal(4, hpa.Desired(S(0, 2, 64)));
        // 4 instances with 68 in flight: 17 each, ratio 1.0625 is within HPA's 10 % tolerance -> stay.
        Assert.Equal(4, hpa.Desired(S(15, 4, 68)));
        // Load drops to 8 (2 each): ceil(4 x 0.125) = 1, but the 60 s window still holds the recommendation of 4.
        Assert.Equal(4, hpa.Desired(S(30, 4, 8)));
        Assert.Equal(4, hpa.Desired(S(60, 4, 8)));
        // Once the 4s are older than 60 s the highest recommendation left is 1.
        Assert.Equal(1, hpa.Desired(S(91, 4, 8)));
    }

    [Fact]
    public void AScheduleSetsInstancesByHourOfDay()
    {
        var table = ScheduleAutoscaler.Parse("8:6, 0:2, 18:4", 8);
        var s = new ScheduleAutoscaler(table);
        int At(double hour) => s.Desired(new AutoscaleSignal(0, hour, 0, 0, 0, 0, 0, 0));
        Assert.Equal(2, At(3));
        Assert.Equal(6, At(8));
        Assert.Equal(6, At(17.99));
        Assert.Equal(4, At(23));
        Assert.Contains("INSTANCES in 0..8", Assert.Throws<ArgumentException>(() => ScheduleAutoscaler.Parse("9:12", 8)).Message);
    }

    [Fact]
    public void FromZeroTheFirstRequestWaitsForTheColdStartAndTheGpuDrawsIdlePowerMeanwhile()
    {
        // One instance that may scale to zero (no scale-down window). It starts parked, wakes on the first request and
        // serves after the cold start (weights over NVMe + engine start, from the server card); with nothing in flight the
        // next decision parks it, so the request 100 s in waits for a second cold start.
        var cfg = new ClusterConfig
        {
            Instances = 1,
            Deployment = new Deployment(Roof.Gpu, Roof.Model, 1, Catalog.Node("hgx-h100-8")),
            Autoscaler = new AutoscalerConfig { Kind = "reactive", MinInstances = 0, ScaleDownWindowSeconds = 0 },
        };
        var sink = new CollectingSink();
        var s = ClusterSimulation.Run(cfg, Roof, [new TraceRequest(1, 0, 10, 2), new TraceRequest(2, 100_000_000, 100, 11)], sink);
        var cold = Catalog.Node("hgx-h100-8").ColdStart.Seconds(Roof.Model.Shard(1).WeightBytesPerGpu, WeightSource.Nvme);
        Assert.Equal(cold, s.ColdStartSeconds, 9);
        var first = sink.Requests.Single(r => r.RequestId == 1);
        var prefill = Roof.Estimate(IterationShape.Prefill(1, 10)).Seconds;
        Assert.Equal(cold + prefill, first.TtftS, 9);
        Assert.Equal(2, s.ColdStarts);
        var second = sink.Requests.Single(r => r.RequestId == 2);
        Assert.Equal(cold + Roof.Estimate(IterationShape.Prefill(1, 100)).Seconds, second.TtftS, 9);
        var inst = Assert.Single(s.PerInstance);
        Assert.Equal(inst.WakingSeconds * Roof.IdleWatts, inst.WakingJoules, 9);
        Assert.Equal(2 * cold, inst.WakingSeconds, 9);
        // While parked the GPU drew nothing; energy is busy + idle + waking.
        Assert.Equal(s.EnergyJ, inst.BusyJoules + inst.IdleJoules + inst.WakingJoules, 9);
        Assert.Equal(s.EnergyJ, sink.Power.Sum(p => p.Joules), 1e-7 * s.EnergyJ);
        Assert.Contains(sink.Power, p => p.ParkedSeconds > 0);
        Assert.Contains(sink.Power, p => p.WakingSeconds > 0);
    }

    [Fact]
    public void AnInstanceTheScheduleNeverWantsStaysParkedAndCostsOnlyItsServerShare()
    {
        var node = Catalog.Node("hgx-h100-8");
        var cfg = new ClusterConfig
        {
            Instances = 2,
            Deployment = new Deployment(Roof.Gpu, Roof.Model, 1, node),
            Autoscaler = new AutoscalerConfig { Kind = "schedule", Schedule = "0:1", MinInstances = 1 },
        };
        var trace = SimulationLawTests.Trace(3, 50, rate: 2);
        var s = ClusterSimulation.Run(cfg, Roof, trace);
        var parked = s.PerInstance[1];
        Assert.Equal(0, parked.RequestsRouted);
        Assert.Equal(s.SimulatedSeconds, parked.ParkedSeconds, 9);
        Assert.Equal(0, parked.IdleJoules, 9);
        Assert.Equal(s.SimulatedSeconds / 3600, s.GpuHours, 9);
        // Host: both GPUs' server share at idle all along, plus the busy increment and supply loss of the serving one.
        double h0 = node.HostWattsPerGpu(0), h1 = node.HostWattsPerGpu(1);
        var on = s.PerInstance[0];
        var expected = 2 * h0 * s.SimulatedSeconds + (h1 - h0) * on.BusySeconds + node.PsuLossFraction * (on.BusyJoules + on.IdleJoules);
        Assert.Equal(expected, s.HostJoules, 6);
    }
}
