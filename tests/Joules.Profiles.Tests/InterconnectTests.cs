using Joules.Profiles.Interconnect;
using Joules.Profiles.Measured;
using Xunit;

namespace Joules.Profiles.Tests;

public class AllReduceTests
{
    // The H100/H200 card's figures: 370 GB/s bus bandwidth, 5 us per call, 0.5 us per step.
    private static readonly AlphaBetaAllReduce Nvlink = new(5e-6, 0.5e-6, 370e9);

    [Fact]
    public void RingAndTreeTimesAreTheAlphaBetaSumsWorkedByHand()
    {
        const double mib = 1048576;
        // 1 MiB over 8 GPUs. Ring: 5 us + 2 x 7 steps x 0.5 us = 12 us, plus 2 x 7/8 x 1 MiB / 370 GB/s = 4.95948 us.
        Assert.Equal(12e-6 + 1.75 * mib / 370e9, Nvlink.Ring(mib, 8), 15);
        Assert.Equal(16.95948e-6, Nvlink.Ring(mib, 8), 11);
        // Tree: 5 us + 2 x log2(8) = 6 steps x 0.5 us = 8 us, plus 2 x 1 MiB / 370 GB/s = 5.66798 us.
        Assert.Equal(8e-6 + 2 * mib / 370e9, Nvlink.Tree(mib, 8), 15);
        Assert.Equal(13.66798e-6, Nvlink.Tree(mib, 8), 11);
        // Small messages favour the tree's fewer steps, large ones the ring's smaller share of the bytes.
        Assert.Equal(Nvlink.Tree(mib, 8), Nvlink.Time(mib, 8));
        Assert.Equal(12e-6 + 1.75 * 64 * mib / 370e9, Nvlink.Time(64 * mib, 8), 15); // 329.4 us by ring against 370.8 us by tree
        // Two GPUs: one step each way for both algorithms; the ring moves half the bytes of the tree.
        Assert.Equal(5e-6 + 1e-6 + mib / 370e9, Nvlink.Time(mib, 2), 15);
        // Six GPUs: the tree needs ceil(log2 6) = 3 levels.
        Assert.Equal(5e-6 + 3e-6 + 2 * 8.0 / 370e9, Nvlink.Tree(8, 6), 15);
        Assert.Equal(0, Nvlink.Time(mib, 1));
    }

    [Fact]
    public void TheAlgorithmCanBePinned()
    {
        var ring = new AlphaBetaAllReduce(5e-6, 0.5e-6, 370e9, AllReduceAlgorithm.Ring);
        var tree = new AlphaBetaAllReduce(5e-6, 0.5e-6, 370e9, AllReduceAlgorithm.Tree);
        Assert.Equal(Nvlink.Ring(1e6, 8), ring.Time(1e6, 8));
        Assert.Equal(Nvlink.Tree(1e9, 8), tree.Time(1e9, 8));
    }

    [Fact]
    public void GpuCardsCarryTheirInterconnectFigures()
    {
        var h100 = AlphaBetaAllReduce.ForGpu(Catalog.Gpu("h100-sxm"));
        Assert.Equal(370e9, h100.BusBandwidth);
        Assert.Equal(5e-6, h100.BaseLatencySeconds, 15);
        Assert.Equal(0.5e-6, h100.HopLatencySeconds, 15);
        Assert.Equal(235e9, AlphaBetaAllReduce.ForGpu(Catalog.Gpu("a100-sxm")).BusBandwidth);
        foreach (var gpu in Catalog.Gpus.Values)
        {
            Assert.True(gpu.AllReduceBusGBs is > 0 && gpu.AllReduceBusGBs <= gpu.InterconnectGBs, gpu.Name);
            Assert.True(gpu.AllReduceBaseLatencyUs is > 0 && gpu.AllReduceHopLatencyUs is > 0, gpu.Name);
            Assert.Contains("nccl", gpu.InterconnectSource!, StringComparison.OrdinalIgnoreCase);
        }
        // A card without all-reduce figures: the line rate and the documented default latencies.
        var bare = AlphaBetaAllReduce.ForGpu(new GpuSpec { Name = "bare", MemoryGiB = 1, MemoryBandwidthGBs = 1, Bf16DenseTflops = 1, TdpWatts = 1, IdleWatts = 0, InterconnectGBs = 100 });
        Assert.Equal(100e9, bare.BusBandwidth);
        Assert.Equal(AlphaBetaAllReduce.DefaultBaseLatencySeconds, bare.BaseLatencySeconds);
        Assert.Equal(AlphaBetaAllReduce.DefaultHopLatencySeconds, bare.HopLatencySeconds);
    }

    [Fact]
    public void BadFiguresAreRefusedWithTheFieldNamed()
    {
        Assert.Contains("bandwidth must be positive", Assert.Throws<ArgumentException>(() => new AlphaBetaAllReduce(1e-6, 1e-6, 0)).Message);
        Assert.Contains("latencies must be zero or positive", Assert.Throws<ArgumentException>(() => new AlphaBetaAllReduce(-1, 1e-6, 1e9)).Message);
        var card = new GpuSpec { Name = "broken", MemoryGiB = 1, MemoryBandwidthGBs = 1, Bf16DenseTflops = 1, TdpWatts = 1, IdleWatts = 0, InterconnectGBs = 0 };
        var e = Assert.Throws<ArgumentException>(() => AlphaBetaAllReduce.ForGpu(card));
        Assert.Contains("GPU 'broken'", e.Message);
        Assert.Contains("interconnect_gbs", e.Message);
    }

    [Fact]
    public void TensorParallelCommIsTwoAllReducesPerLayerOfTheHiddenStates()
    {
        // Llama-3.1-70B over 8 H200s, a decode step of 64 sequences: each all-reduce carries 64 x 8192 x 2 B = 1 MiB,
        // 13.668 us by tree (above); 2 per layer x 80 layers = 160 calls = 2.1869 ms.
        var comm = new TensorParallelComm(AlphaBetaAllReduce.ForGpu(Catalog.Gpu("h200")), Catalog.Model("llama-3.1-70b"), 8);
        Assert.Equal(160, comm.CallsPerIteration);
        Assert.Equal(16384, comm.BytesPerToken);
        Assert.Equal(160 * (8e-6 + 2 * 1048576 / 370e9), comm.Seconds(64), 15);
        Assert.Equal(0, comm.Seconds(0));
        Assert.Equal(0, new TensorParallelComm(Nvlink, Catalog.Model("llama-3.1-8b"), 1).Seconds(64));
        Assert.Throws<ArgumentOutOfRangeException>(() => new TensorParallelComm(Nvlink, Catalog.Model("llama-3.1-8b"), 0));
    }
}

public class HarmonicSumTests
{
    [Theory]
    [InlineData(0.3, 1)]
    [InlineData(0.3, 70)]
    [InlineData(1, 1000)]
    [InlineData(15.5, 65)]
    [InlineData(16, 100000)]
    [InlineData(1234.5, 3000)]
    [InlineData(1e9, 5000)]
    [InlineData(2e13, 200)]
    public void MatchesDirectSummation(double a, long n)
    {
        // Summed smallest terms first, so the reference itself is accurate to rounding.
        double direct = 0;
        for (var k = n - 1; k >= 0; k--) direct += 1.0 / (a + k);
        Assert.Equal(direct, HarmonicSum.Sum(a, n), direct * 1e-13);
    }

    [Fact]
    public void EdgeCases()
    {
        Assert.Equal(0, HarmonicSum.Sum(5, 0));
        Assert.Equal(0.5, HarmonicSum.Sum(2, 1));
        Assert.Equal(1e-12 - 0.5e-24, HarmonicSum.LogOnePlus(1e-12), 1e-27); // x - x^2 / 2
        Assert.Equal(Math.Log(3), HarmonicSum.LogOnePlus(2), 15);
        Assert.Throws<ArgumentOutOfRangeException>(() => HarmonicSum.Sum(0, 3));
    }
}
