using Joules.Calibration.Measurement;
using System.Text.RegularExpressions;
using Joules.Calibration.Engine;
using Joules.Profiles;
using Xunit;

namespace Joules.Calibration.Tests;

public class EngineTests
{
    private static readonly ModelCard Llama8B = Catalog.Model("llama-3.1-8b");
    private static readonly ModelCard Llama70B = Catalog.Model("llama-3.1-70b");

    [Fact]
    public void KernelSourceIsEmbeddedWithEveryKernelTheLaunchersUse()
    {
        var src = EngineKernels.Source();
        var defined = Regex.Matches(src, @"extern ""C"" __global__ void (?:__launch_bounds__\(\d+\) )?(\w+)\(").Select(m => m.Groups[1].Value).ToHashSet();
        foreach (var k in new[] { "fill_uniform", "embed", "rmsnorm", "qkv_rope_cache", "silu_mul", "argmax_rows", "prefill_attention_d128",
                     "prefill_attention_d64", "decode_attention_d128", "decode_attention_d64", "decode_combine" })
            Assert.Contains(k, defined);
    }

    [Fact]
    public void MacroGeneratedKernelsCoverEveryVariantTheLaunchersName()
    {
        var src = EngineKernels.Source();
        // One streaming GEMV per row count 1..GemvMaxRows, each in all three input modes (GEMV_T expands to the three).
        var rows = Regex.Matches(src, @"GEMV_T\((\d+)\)").Select(m => int.Parse(m.Groups[1].Value)).ToHashSet();
        Assert.Equal(Enumerable.Range(1, EngineKernels.GemvMaxRows).ToHashSet(), rows);
        Assert.Equal(3, Enum.GetValues<GemvInput>().Length);
        Assert.Contains("GEMV(t, 0) GEMV(t, 1) GEMV(t, 2)", src);
        // The work-list decode kernel for head_dim 64 and 128 and 1, 2, 4, 8 query heads per kv head.
        foreach (var d in new[] { 64, 128 })
            foreach (var g in new[] { 1, 2, 4, 8 })
                Assert.Matches($@"DECODE_WL\({d}, {g}, 4, \d\)", src);
    }

    [Theory]
    [InlineData(1, 4096, 1, true)]      // batch-1 decode
    [InlineData(2, 4096, 1, false)]
    [InlineData(4, 4096, 4, true)]
    [InlineData(5, 4096, 4, false)]     // past the kernels' row counts
    [InlineData(5, 4096, 16, false)]    // an option above GemvMaxRows is capped by the kernels
    [InlineData(1, 4096, 0, false)]     // 0 turns the streaming path off
    [InlineData(1, 4100, 4, false)]     // k must be a multiple of the 8-value loads
    [InlineData(0, 4096, 4, false)]
    public void StreamingProjectionsTakeDecodeSizedIterationsOnly(int tokens, int k, int max, bool streams) =>
        Assert.Equal(streams, DenseOps.Streams(tokens, k, max));

    [Fact]
    public void AttentionWorkCountsCausalKeysAndTheCacheRead()
    {
        var m = Llama8B.Shard(1);
        // A fresh 4-token prefill: query i sees i + 1 keys, 10 in all; it reads its 4 keys.
        var (f, b) = EngineBench.AttentionWork(m, IterationComposition.Prefill(1, 4));
        Assert.Equal(4.0 * 32 * 128 * 10, f);
        Assert.Equal(4.0 * 8 * 128 * 2 * 2, b);
        // Two decodes at context 9: each query sees 10 keys, K and V of 20 tokens are read.
        (f, b) = EngineBench.AttentionWork(m, IterationComposition.Decode(2, 9));
        Assert.Equal(4.0 * 32 * 128 * 20, f);
        Assert.Equal(20.0 * 8 * 128 * 2 * 2, b);
        Assert.Equal(10, EngineBench.AttentionSuite.Count);
        Assert.All(EngineBench.AttentionSuite, s => Assert.StartsWith("attention ", s.Label));
    }

    [Fact]
    public void ProfilesSayWhichProjectionAndAttentionKernelsMeasuredThem()
    {
        var p = new EngineOptions().Provenance();
        Assert.Equal("cuBLASLt", p["engine.projections"]);
        Assert.Contains("streaming GEMV with RMSNorm/SwiGLU fused for iterations of 1 token", new EngineOptions { GemvMaxTokens = 1 }.Provenance()["engine.projections"]);
        Assert.Contains("up to 4 tokens", new EngineOptions { GemvMaxTokens = 9 }.Provenance()["engine.projections"]);
        Assert.Contains("work-list split-KV on tensor cores", p["engine.decode_attention"]);
        Assert.Contains("items of at most 4 query heads", new EngineOptions { DecodeKernel = DecodeKernel.WorkList }.Provenance()["engine.decode_attention"]);
        // The kernels' source hash: a profile says which kernels measured it, and a log is resumed only by the same engine.
        Assert.Matches("^[0-9a-f]{16}$", p["engine.kernels_sha256"]);
        Assert.NotEqual(RawLogHeader.EngineFingerprint(p), RawLogHeader.EngineFingerprint(new EngineOptions { DecodeKernel = DecodeKernel.WorkList }.Provenance()));
        var workList = new EngineOptions { DecodeKernel = DecodeKernel.WorkList };
        Assert.NotEqual(RawLogHeader.EngineFingerprint(workList.Provenance()), RawLogHeader.EngineFingerprint((workList with { DecodeMaxGroup = 8 }).Provenance()));
        // Prefill attention: auto by default, which is cuDNN where it loads and Joules' kernel elsewhere (as on a CI machine);
        // the profile names what ran, and through cuDNN it names cuDNN, chunks over a cache included.
        Assert.Equal(PrefillAttention.Auto, new EngineOptions().PrefillAttention);
        var joules = new EngineOptions { PrefillAttention = PrefillAttention.Joules }.Provenance()["engine.prefill_attention"];
        Assert.Equal("joules flash-style, cp.async double-buffered", joules);
        Assert.Equal(Joules.Cuda.Cudnn.IsAvailable(out _) ? PrefillAttention.Cudnn : PrefillAttention.Joules, new EngineOptions().ResolvedPrefillAttention);
        if (!Joules.Cuda.Cudnn.IsAvailable(out _)) Assert.Equal(joules, p["engine.prefill_attention"]);
        var cudnn = new EngineOptions { PrefillAttention = PrefillAttention.Cudnn }.Provenance()["engine.prefill_attention"];
        Assert.StartsWith("cuDNN ", cudnn);
        Assert.Contains("fused flash attention", cudnn);
        Assert.Contains("chunks over a cache through its paged cache load", cudnn);
        Assert.NotEqual(RawLogHeader.EngineFingerprint(new EngineOptions { PrefillAttention = PrefillAttention.Joules }.Provenance()),
            RawLogHeader.EngineFingerprint(new EngineOptions { PrefillAttention = PrefillAttention.Cudnn }.Provenance()));
    }

    [Fact]
    public void PrefillAttentionNamesRoundTripAndAnUnknownOneListsTheChoices()
    {
        foreach (var (kind, name) in PrefillAttentions.Names) Assert.Equal(kind, PrefillAttentions.Parse(name));
        var e = Assert.Throws<ArgumentException>(() => PrefillAttentions.Parse("flash"));
        Assert.Contains("auto, joules, cudnn", e.Message);
    }

    [Fact]
    public void SeventyBillionShardsSplitHeadsFfnAndKvHeads()
    {
        var s = Llama70B.Shard(8);
        Assert.Equal(8, s.Heads);
        Assert.Equal(1, s.KvHeads);
        Assert.Equal(28672 / 8, s.Ffn);
        Assert.Equal((8 + 2) * 128, s.QkvWidth);
        var s4 = Llama70B.Shard(4);
        Assert.Equal(2, s4.KvHeads);
        Assert.True(s4.WeightBytesPerGpu < 40e9 && s4.WeightBytesPerGpu > 30e9);
    }

    [Fact]
    public void KvCacheSizing()
    {
        var s = Llama8B.Shard(1);
        Assert.Equal(2L * 32 * 8 * 128 * 2, s.KvBytesPerTokenPerGpu);            // 128 KiB per token
        Assert.Equal(s.KvBytesPerTokenPerGpu * 16, EngineMath.PageBytes(s));
        Assert.Equal(1, EngineMath.PagesFor(1));
        Assert.Equal(2, EngineMath.PagesFor(17));
        var c = IterationComposition.Decode(64, 1024);                         // 1025 tokens each: 65 pages
        Assert.Equal(64L * 65, EngineMath.Pages(c));
    }

    [Fact]
    public void FlopsOfADecodeStepAreTwicePerParameterPlusAttention()
    {
        var s = Llama8B.Shard(1);
        var c = IterationComposition.Decode(1, 1024);
        double body = EngineMath.GemmFlopsPerTokenPerLayer(s) * s.Layers + 2.0 * s.VocabShard * s.Hidden;
        double attn = 4.0 * s.Heads * s.HeadDim * 1025 * s.Layers;
        Assert.Equal(body + attn, EngineMath.Flops(s, c), 6);
        Assert.InRange(body / 2, 7.4e9, 7.6e9);                               // Llama-3.1-8B minus its embedding table
    }

    [Fact]
    public void BytesCoverWeightsAndTheCacheRead()
    {
        var s = Llama8B.Shard(1);
        var small = EngineMath.Bytes(s, IterationComposition.Decode(1, 16));
        var big = EngineMath.Bytes(s, IterationComposition.Decode(128, 1024));
        Assert.InRange(small, 15.0e9, 16.5e9);
        Assert.True(big - small > 128 * 1024 * (double)s.KvBytesPerTokenPerGpu * 0.99);
    }

    [Theory]
    [InlineData(1, 8, 1025)]
    [InlineData(64, 8, 1025)]
    [InlineData(256, 8, 513)]
    [InlineData(3, 1, 40000)]
    [InlineData(5, 2, 2001)]
    public void DecodeSplitsCoverTheContextWithinTheKernelsBound(int seqs, int kvHeads, int maxKv)
    {
        var (splits, chunk) = EngineMath.DecodeSplits(seqs, kvHeads, maxKv, 132);
        Assert.True(splits >= 1);
        Assert.True(chunk <= 512);
        Assert.Equal(0, chunk % 16);
        Assert.True((long)splits * chunk >= maxKv);
        Assert.True((long)(splits - 1) * chunk < maxKv);                        // no split entirely empty
    }

    [Fact]
    public void RooflineIsTheSlowerOfComputeAndMemory()
    {
        var s = Llama8B.Shard(1);
        var decode = IterationComposition.Decode(1, 1024);
        var prefill = IterationComposition.Prefill(16, 512);
        Assert.Equal(EngineMath.Bytes(s, decode) / 3e12, EngineMath.RooflineSeconds(s, decode, 800e12, 3e12), 9);
        Assert.Equal(EngineMath.Flops(s, prefill) / 800e12, EngineMath.RooflineSeconds(s, prefill, 800e12, 3e12), 9);
    }

    [Fact]
    public void Bf16RoundingIsRoundToNearestEven()
    {
        Assert.Equal(1.0, EngineSelfTest.R(1.0));
        Assert.Equal(1.0, EngineSelfTest.R(1.0 + 1.0 / 512));                  // halfway rounds to even
        Assert.Equal(1.0 + 1.0 / 64, EngineSelfTest.R(1.0 + 1.0 / 64 + 1e-6));
        Assert.True(double.IsNaN(EngineSelfTest.FromBf16(0xFFFF)));            // the poison value
    }

    [Fact]
    public void IssueSuiteHasTheNineShapes()
    {
        Assert.Equal(9, EngineBench.Issue5Suite.Count);
        Assert.Contains(EngineBench.Issue5Suite, s => s.Label == "decode b=256 ctx=512" && s.Composition.Sequences.Count == 256);
    }

    [EngineGpuFact]
    public void SelfTestPassesOnTheGpu()
    {
        var results = EngineSelfTest.RunAll();
        Assert.All(results, r => Assert.True(r.Passed, $"{r.Name}: rel {r.RelError:E2} unwritten {r.Unwritten} {r.Error}"));
    }

    [EngineGpuFact]
    public void EngineRunsAsAnIterationWorkload()
    {
        using IIterationWorkload w = new TransformerEngine(EngineSelfTest.TinyModel);
        var c = new IterationComposition([new SequenceWork(100, 0), new SequenceWork(1, 500)]);
        Assert.True(w.Fits(c, out var why), why);
        w.Prepare(c);
        w.Enqueue(5);
        w.Synchronize();
    }

    [EngineGpuFact]
    public void NvmlTelemetryReadsTheCounters()
    {
        using var t = new NvmlTelemetry();
        Assert.False(string.IsNullOrEmpty(t.Name));
        Assert.True(t.PowerLimitWatts > 0);
        var e0 = t.TotalEnergyMillijoules();
        Assert.True(t.PowerWatts() > 0);
        Assert.True(t.TotalEnergyMillijoules() >= e0);
    }
}
