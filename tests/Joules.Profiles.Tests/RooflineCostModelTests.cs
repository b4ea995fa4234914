using Joules.Profiles;
using Joules.Profiles.Roofline;
using FsCheck;
using FsCheck.Fluent;
using Xunit;

namespace Joules.Profiles.Tests;

public class RooflineCostModelTests
{
    // A toy model small enough to count by hand.
    private static readonly ModelCard Toy = new()
    {
        Name = "toy", Layers = 1, Hidden = 4, Heads = 2, KvHeads = 1, HeadDim = 2, Ffn = 8, Vocab = 10, Dtype = "bf16",
    };

    // 1000 FLOP/s, 1000 B/s, 100 B/s all-reduce bus, 10 ms per all-reduce call + 5 ms per step, idle 100 W, TDP 300 W.
    private static readonly GpuSpec Slow = new()
    {
        Name = "slow", MemoryGiB = 1, MemoryBandwidthGBs = 1e-6, Bf16DenseTflops = 1e-9, TdpWatts = 300, IdleWatts = 100,
        InterconnectGBs = 1e-7, AllReduceBaseLatencyUs = 10000, AllReduceHopLatencyUs = 5000,
    };

    [Fact]
    public void DecodeStepIsMemoryBoundAndCountedByHand()
    {
        var m = new RooflineCostModel(Slow, Toy);
        var shape = IterationShape.Decode(1, 5);
        // linear params per layer: 4*8 (qkv) + 2*2*4 (o) + 3*4*8 (mlp) = 144; GEMM 2*144 = 288, LM head 2*4*10 = 80, attention 4*5*2*2 = 80.
        Assert.Equal(448, m.Flops(shape), 9);
        // weights (144 + 2*4 norms + 4 final norm + 40 LM head) * 2 B = 392; embedding row 8; KV 5 tokens * 8 B = 40;
        // activations 2 B * (4+8+4+4+4+16+24+8+4+16) = 184.
        Assert.Equal(624, m.Bytes(shape), 9);
        var c = m.Estimate(shape);
        Assert.Equal(0.624, c.Seconds, 12);
        Assert.Equal(300 * 0.624, c.Joules, 9); // fully busy on memory: TDP
        Assert.Equal(100, m.IdleWatts);
    }

    [Fact]
    public void PrefillChunkCountsCausalPairsAndContext()
    {
        var m = new RooflineCostModel(Slow, Toy);
        var shape = default(IterationShape).AddPrefill(3, 2); // 3 new tokens over 2 cached: pairs 3*2 + 3*4/2 = 12
        Assert.Equal(12, shape.PrefillAttentionPairs);
        Assert.Equal(3 * 288 + 80 + 12 * 16, m.Flops(shape), 9);
        Assert.Equal(392 + 3 * 8 + (2 + 3) * 8 + 3 * 184, m.Bytes(shape), 9);
    }

    [Fact]
    public void TensorParallelAddsAllReduceTimeAndChargesCommAtPartialPower()
    {
        var card = Toy with { Heads = 2, KvHeads = 2 };
        var m = new RooflineCostModel(Slow, card, tensorParallel: 2);
        var shape = IterationShape.Decode(1, 1);
        // One all-reduce carries 1 token x hidden 4 x 2 B = 8 B. Ring over 2 GPUs: 0.01 s + 2 steps x 0.005 s + 2(2-1)/2 x 8 B / 100 B/s
        // = 0.1 s; tree: 0.01 + 2 x 1 x 0.005 + 2 x 8 / 100 = 0.18 s; the faster is the ring. Two per layer, one layer: 0.2 s.
        Assert.Equal(0.2, m.CommSeconds(shape), 12);
        var c = m.Estimate(shape);
        var roof = Math.Max(m.Flops(shape) / 1000, m.Bytes(shape) / 1000);
        Assert.Equal(roof + 0.2, c.Seconds, 12);
        var watts = 100 + 200 * (roof + RooflineCostModel.CommUtilisation * 0.2) / (roof + 0.2);
        Assert.Equal(2 * watts * c.Seconds, c.Joules, 9);
        Assert.Equal(0.2, c.CommSeconds, 12);
        // Communication is charged at idle + 0.3 x (TDP - idle) = 160 W per GPU: 2 GPUs x 160 W x 0.2 s.
        Assert.Equal(64, c.CommJoules, 9);
        Assert.Equal(PricingClass.Model, c.Pricing);
        Assert.Equal(200, m.IdleWatts);
        var run = m.EstimateDecodeRun(1, 1, 3);
        Assert.Equal(0.6, run.CommSeconds, 12);
        Assert.Equal(192, run.CommJoules, 9);
    }

    [Fact]
    public void OneGpuHasNoCommunication()
    {
        var c = new RooflineCostModel(Slow, Toy).Estimate(IterationShape.Decode(4, 10));
        Assert.Equal(0, c.CommSeconds);
        Assert.Equal(0, c.CommJoules);
    }

    [Fact]
    public void Llama8bOnH100MatchesBackOfEnvelope()
    {
        var m = new RooflineCostModel(Catalog.Gpu("h100-sxm"), Catalog.Model("llama-3.1-8b"));
        // Decode at batch 1 streams ~16 GB of weights at 3.35 TB/s: about 4.8 ms.
        var d = m.Estimate(IterationShape.Decode(1, 1000));
        Assert.InRange(d.Seconds, 4.5e-3, 5.2e-3);
        // A 2048-token prefill is compute bound: 2 * 7.5e9 * 2048 FLOPs at 989 TFLOPS, about 31-35 ms.
        var p = m.Estimate(IterationShape.Prefill(1, 2048));
        Assert.InRange(p.Seconds, 0.030, 0.036);
        Assert.Equal(700 * p.Seconds, p.Joules, 6);
        // Batching decodes amortises the weights: 64 sequences cost far less than 64 single steps.
        Assert.True(m.Estimate(IterationShape.Decode(64, 1000)).Seconds < 4 * d.Seconds);
    }

    [Fact]
    public void EmptyShapeCostsNothingAndCostGrowsWithWork()
    {
        var m = new RooflineCostModel(Catalog.Gpu("a100-sxm"), Catalog.Model("llama-3.2-1b"));
        Assert.Equal(default, m.Estimate(default));
        Prop.ForAll<byte, byte>((a, b) =>
        {
            var small = m.Estimate(IterationShape.Decode(1 + a % 32, 100 + b));
            var big = m.Estimate(IterationShape.Decode(1 + a % 32 + 1, 100 + b));
            return big.Seconds >= small.Seconds && big.Joules >= small.Joules && small.Seconds > 0;
        }).QuickCheckThrowOnFailure();
    }
}

public class RooflineDecodeRunTests
{
    [Fact]
    public void ClosedFormDecodeRunEqualsTheSumOfItsSteps()
    {
        var models = new[]
        {
            new RooflineCostModel(Catalog.Gpu("h100-sxm"), Catalog.Model("llama-3.1-8b")),
            new RooflineCostModel(Catalog.Gpu("h200"), Catalog.Model("llama-3.1-70b"), 4),
            new RooflineCostModel(Catalog.Gpu("a100-sxm"), Catalog.Model("llama-3.2-1b")),
        };
        Prop.ForAll<ushort, ushort, ushort>((mb, ctx, steps) =>
        {
            var m = mb % 3;
            var b = mb / 3;
            var model = models[m % models.Length];
            var batch = 1 + b % 512;
            var contextSum = (long)batch * (1 + ctx % 20000);
            var k = 1 + steps % 1000;
            return DecodeRuns.MatchesItsSteps(model, batch, contextSum, k);
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void SumOfMaxHandlesACrossingInsideTheRun()
    {
        // max(10 - j, j) for j = 0..9: 10,9,8,7,6,5,6,7,8,9 = 75
        Assert.Equal(75, RooflineCostModel.SumOfMax(10, -1, 0, 1, 10), 9);
        Assert.Equal(0, RooflineCostModel.SumOfMax(1, 1, 2, 2, 0));
    }
}
