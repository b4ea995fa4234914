using FsCheck;
using FsCheck.Fluent;
using Joules.Simulation.Settings;
using Joules.Traces;
using Xunit;

namespace Joules.Simulation.Tests;

/// <summary>
/// The scheduler's decode cohort (steady decodes advanced by a step counter in mixed iterations) is a speed-up only:
/// with it and without it the simulation makes the same decisions at the same times and charges the same energy.
/// </summary>
public class DecodeCohortTests
{
    // Prompts from a few families share their leading trace blocks, so prefix caching has hits to find and hashed
    // blocks to register, free and evict, as on Mooncake's traces.
    private static List<TraceRequest> Trace(int seed, int count, double rate, bool hashes)
    {
        var rng = new Random(seed);
        var t = 0.0;
        var list = new List<TraceRequest>(count);
        for (var i = 0; i < count; i++)
        {
            t += -Math.Log(1 - rng.NextDouble()) / rate;
            var input = 20 + (int)Math.Exp(rng.NextDouble() * 7.5);
            var output = 1 + (int)Math.Exp(rng.NextDouble() * 5.5);
            long[]? ids = null;
            if (hashes)
            {
                var family = rng.Next(4);
                var shared = rng.Next(0, 4);
                ids = new long[(input + 511) / 512];
                for (var k = 0; k < ids.Length; k++) ids[k] = k < shared ? family * 1000 + k : 1_000_000L * (i + 1) + k;
            }
            list.Add(new TraceRequest(i, (long)(t * 1e6), input, output, HashIds: ids));
        }
        return list;
    }

    [Fact]
    public void TheCohortChangesNoDecisionTimeOrEnergy()
    {
        long cohortIterations = 0;
        Prop.ForAll(
            (from seed in Gen.Choose(0, 100_000)
             from n in Gen.Choose(50, 700)
             from inst in Gen.Choose(1, 3)
             from router in Gen.Elements(RouterNames.All)
             from rate in Gen.Elements(20.0, 80.0, 300.0)
             from blocks in Gen.Elements<int?>(null, 2500, 600)
             from seqs in Gen.Elements(64, 256)
             from budget in Gen.Elements(1024, 8192)
             from hashes in Gen.Elements(true, false)
             from caching in Gen.Elements(true, false)
             select (seed, n, inst, router, rate, blocks, seqs, budget, hashes, caching)).ToArbitrary(),
            c =>
            {
                var cfg = new ClusterConfig
                {
                    Instances = c.inst, Router = c.router, Seed = c.seed,
                    Engine = new EngineConfig { KvBlocksOverride = c.blocks, MaxNumBatchedTokens = c.budget, MaxNumSeqs = c.seqs, PrefixCaching = c.caching },
                };
                var trace = Trace(c.seed, c.n, c.rate, c.hashes);
                cohortIterations += RunWithAndWithoutCohort(cfg, SimulationLawTests.Roof, trace);
            }).Check(Config.QuickThrowOnFailure.WithMaxTest(100));
        // The property means something only if the cohort ran.
        Assert.True(cohortIterations > 5_000, $"only {cohortIterations} iterations went through the cohort");
    }

    [Fact]
    public void APackingRouterRunsMostIterationsThroughTheCohort()
    {
        // One instance taking a new prompt nearly every iteration with a few hundred decoding: the case the cohort is
        // for, at the default threshold.
        var cfg = new ClusterConfig { Instances = 1, Router = RouterNames.RoundRobin, Engine = new EngineConfig { MaxNumSeqs = 512 } };
        var sim = new ClusterSimulation(cfg, SimulationLawTests.Roof, new CollectingSink(false));
        var s = sim.Run(Trace(5, 6000, 150, hashes: false));
        var share = (double)sim.Instances[0].CohortIterations / s.Iterations;
        Assert.True(share > 0.5, $"{share:P1} of {s.Iterations} iterations through the cohort");
    }

    [Theory]
    [InlineData("mooncake_conversation_trace.jsonl", "consolidate", 2)]
    [InlineData("mooncake_conversation_trace.jsonl", "least-outstanding", 4)]
    [InlineData("azure2023_AzureLLMInferenceTrace_code.csv", "consolidate", 1)]
    public void OnARealTraceWithTheMeasuredProfileTheCohortChangesNothing(string file, string router, int instances)
    {
        // Real prompts and arrivals (Mooncake's with its hash_ids, so prefix caching hits and evicts), priced by the
        // shipped H200 profile; the first 3,000 requests.
        var scenario = new ScenarioSpec().With(SimulateSettings.Instances, instances).With(SimulateSettings.Router, router)
            .Resolve(Joules.Tests.RepoPaths.Calibration);
        var cost = scenario.CreateCostModel();
        var trace = TraceSource.Open(Joules.Tests.RepoPaths.Shared("traces", file)).Read().Take(3000).ToList();
        Assert.True(RunWithAndWithoutCohort(scenario.Cluster, cost, trace) > 1000);
    }

    // Runs the trace with the cohort (at a low threshold, so small cases use it) and without; asserts that the runs
    // agree in every decision, time and energy; returns how many iterations went through the cohort.
    private static long RunWithAndWithoutCohort(ClusterConfig cfg, Joules.Profiles.ICostModel cost, List<TraceRequest> trace)
    {
        var withSink = new CollectingSink(false);
        var withSim = new ClusterSimulation(cfg, cost, withSink, new SimulationOptions { CohortMinimum = 8 });
        var with = withSim.Run(trace);
        var withoutSink = new CollectingSink(false);
        var without = new ClusterSimulation(cfg, cost, withoutSink, new SimulationOptions { DeferDecodes = false }).Run(trace);
        Assert.Equal(without.Iterations, with.Iterations);
        Assert.Equal(without.Preemptions, with.Preemptions);
        Assert.Equal(without.SimulatedSeconds, with.SimulatedSeconds, 1e-9);
        Assert.Equal(without.EnergyJ, with.EnergyJ, 1e-9 * without.EnergyJ);
        var a = withSink.Requests.OrderBy(r => r.RequestId).ToList();
        var b = withoutSink.Requests.OrderBy(r => r.RequestId).ToList();
        Assert.Equal(b.Count, a.Count);
        for (var i = 0; i < a.Count; i++)
        {
            Assert.Equal(b[i].Instance, a[i].Instance);
            Assert.Equal(b[i].Preemptions, a[i].Preemptions);
            Assert.Equal(b[i].CachedPromptTokens, a[i].CachedPromptTokens);
            Assert.Equal(b[i].FirstTokenS, a[i].FirstTokenS, 1e-9);
            Assert.Equal(b[i].DoneS, a[i].DoneS, 1e-9);
            Assert.Equal(b[i].EnergyJ, a[i].EnergyJ, 1e-9 * Math.Max(1, b[i].EnergyJ));
        }
        return withSim.Instances.Sum(i => i.CohortIterations);
    }
}
