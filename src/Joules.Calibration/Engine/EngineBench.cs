using System.Diagnostics;
using Joules.Cuda;
using Joules.Profiles;

namespace Joules.Calibration.Engine;

/// <summary>Timing of one composition: median iteration time and the rates it implies.</summary>
public sealed record BenchResult(string Label, IterationComposition Composition, double MedianSeconds, double MinSeconds, int Iterations,
    double Flops, double Bytes, bool Graph)
{
    public long NewTokens => Composition.Sequences.Sum(s => (long)s.NewTokens);
    public double TokensPerSecond => NewTokens / MedianSeconds;
    public double TflopsPerSecond => Flops / MedianSeconds / 1e12;
    public double GigabytesPerSecond => Bytes / MedianSeconds / 1e9;
}

/// <summary>An iteration's time split into its dense projections, its attention and the rest, each part timed alone.</summary>
public sealed record IterationBreakdown(BenchResult Whole, double ProjectionSeconds, double AttentionSeconds)
{
    /// <summary>Whole iteration minus the two timed parts: small kernels and the gaps between kernels.</summary>
    public double OtherSeconds => Whole.MedianSeconds - ProjectionSeconds - AttentionSeconds;
}

/// <summary>Measured ceilings of the GPU: dense bf16 GEMM rate and device-to-device copy bandwidth (bytes read plus written).</summary>
public sealed record Roofline(double GemmFlopsPerSecond, double CopyBytesPerSecond)
{
    public double Seconds(ModelShard m, IterationComposition c) => EngineMath.RooflineSeconds(m, c, GemmFlopsPerSecond, CopyBytesPerSecond);
}

/// <summary>Times engine iterations with CUDA events and measures the roofline the engine is compared with.</summary>
public static class EngineBench
{
    /// <summary>The shapes issue 5 asks for, Llama-3.1-8B: prefill 1x512, 1x2048, 4x1024, 16x512; decode batch 1, 16, 64, 128 at context 1024 and 256 at 512.</summary>
    public static IReadOnlyList<(string Label, IterationComposition Composition)> Issue5Suite { get; } =
    [
        ("prefill 1x512", IterationComposition.Prefill(1, 512)),
        ("prefill 1x2048", IterationComposition.Prefill(1, 2048)),
        ("prefill 4x1024", IterationComposition.Prefill(4, 1024)),
        ("prefill 16x512", IterationComposition.Prefill(16, 512)),
        ("decode b=1 ctx=1024", IterationComposition.Decode(1, 1024)),
        ("decode b=16 ctx=1024", IterationComposition.Decode(16, 1024)),
        ("decode b=64 ctx=1024", IterationComposition.Decode(64, 1024)),
        ("decode b=128 ctx=1024", IterationComposition.Decode(128, 1024)),
        ("decode b=256 ctx=512", IterationComposition.Decode(256, 512)),
    ];

    /// <summary>
    /// Decode batches of 16, 64 and 128 sequences whose contexts average 1024 tokens: all equal, spread like an
    /// exponential distribution (longest about 3-5x the mean, as in serving), and one sequence of 8192 with the rest
    /// short. A kernel whose cost follows the sum of the contexts times all three alike.
    /// </summary>
    public static IReadOnlyList<(string Label, IterationComposition Composition)> SpreadSuite { get; } = BuildSpreadSuite();

    private static List<(string, IterationComposition)> BuildSpreadSuite()
    {
        const int mean = 1024;
        var list = new List<(string, IterationComposition)>();
        foreach (var b in new[] { 16, 64, 128 })
        {
            static IterationComposition Of(IEnumerable<int> contexts) =>
                new(contexts.Select(c => new SequenceWork(1, Math.Max(1, c))).ToArray());
            var exp = Enumerable.Range(0, b).Select(i => (int)Math.Round(-mean * Math.Log(1 - (i + 0.5) / b))).ToArray();
            int rest = Math.Max(1, (mean * b - 8192) / (b - 1));
            var oneLong = Enumerable.Range(0, b).Select(i => i == 0 ? 8192 : rest).ToArray();
            list.Add(($"decode b={b} ctx=1024 uniform", IterationComposition.Decode(b, mean)));
            list.Add(($"decode b={b} ctx~exp(1024) max {exp.Max()}", Of(exp)));
            list.Add(($"decode b={b} 1x8192 + {b - 1}x{rest}", Of(oneLong)));
        }
        return list;
    }

    /// <summary>Decode batches of 1 to 16 sequences at context 1024 (and 8 at 4096): where the projections are weight streams and the streaming GEMV path competes with cuBLASLt.</summary>
    public static IReadOnlyList<(string Label, IterationComposition Composition)> SmallBatchSuite { get; } =
    [
        .. new[] { 1, 2, 3, 4, 6, 8, 12, 16 }.Select(b => ($"decode b={b} ctx=1024", IterationComposition.Decode(b, 1024))),
        ("decode b=8 ctx=4096", IterationComposition.Decode(8, 4096)),
    ];

    /// <summary>
    /// Attention alone, on Llama-3.1-8B's geometry unless another model is given: fresh causal prefills of 1x2048, 1x8192,
    /// 1x32768 and 8x2048 tokens, and decode batches (1, 64 and 128 at context 1024, 256 at 512, 64 at 4096, 8 at 32768);
    /// the shapes PyTorch's SDPA backends are timed on by calibration/device/torch_reference.py.
    /// </summary>
    public static IReadOnlyList<(string Label, IterationComposition Composition)> AttentionSuite { get; } =
    [
        ("attention prefill 1x2048", IterationComposition.Prefill(1, 2048)),
        ("attention prefill 1x8192", IterationComposition.Prefill(1, 8192)),
        ("attention prefill 1x32768", IterationComposition.Prefill(1, 32768)),
        ("attention prefill 8x2048", IterationComposition.Prefill(8, 2048)),
        ("attention decode b=1 ctx=1024", IterationComposition.Decode(1, 1024)),
        ("attention decode b=64 ctx=1024", IterationComposition.Decode(64, 1024)),
        ("attention decode b=128 ctx=1024", IterationComposition.Decode(128, 1024)),
        ("attention decode b=256 ctx=512", IterationComposition.Decode(256, 512)),
        ("attention decode b=64 ctx=4096", IterationComposition.Decode(64, 4096)),
        ("attention decode b=8 ctx=32768", IterationComposition.Decode(8, 32768)),
    ];

    /// <summary>FLOPs of one layer's attention (QKᵀ and PV, causal: query i of a chunk sees its context plus i + 1 keys) and the bytes of K and V it reads.</summary>
    public static (double Flops, double Bytes) AttentionWork(ModelShard m, IterationComposition c)
    {
        double keysSeen = 0, keysRead = 0;
        foreach (var s in c.Sequences)
        {
            keysSeen += (double)s.NewTokens * s.ContextBefore + (double)s.NewTokens * (s.NewTokens + 1) / 2;
            keysRead += s.ContextBefore + s.NewTokens;
        }
        return (4.0 * m.Heads * m.HeadDim * keysSeen, keysRead * m.KvHeads * m.HeadDim * 2.0 * 2.0);
    }

    /// <summary>
    /// Times the attention kernels of <paramref name="c"/> alone: every layer's attention captured back to back in one
    /// CUDA graph over its own cache, the median over <paramref name="iterations"/> replays divided by the layers
    /// (per-layer GPU time, as an SDPA call is timed); FLOPs and bytes are one layer's.
    /// </summary>
    public static BenchResult MeasureAttention(TransformerEngine engine, string label, IterationComposition c, int warmup = 3, int iterations = 20)
    {
        engine.Prepare(c);
        var seconds = TimePart(engine, IterationPart.Attention, warmup, iterations).Median / engine.Shard.Layers;
        var (flops, bytes) = AttentionWork(engine.Shard, c);
        return new BenchResult(label, c, seconds, seconds, iterations, flops, bytes, Graph: true);
    }

    /// <summary>Median and fastest GPU time of one part of the prepared iteration over all layers, replayed from its own CUDA graph.</summary>
    public static (double Median, double Min) TimePart(TransformerEngine engine, IterationPart part, int warmup = 3, int iterations = 20)
    {
        using var graph = engine.CapturePart(part);
        for (var i = 0; i < warmup; i++) graph.Launch(engine.Stream);
        engine.Synchronize();
        using var a = new CudaEvent();
        using var b = new CudaEvent();
        var times = new double[iterations];
        for (var i = 0; i < iterations; i++)
        {
            a.Record(engine.Stream);
            graph.Launch(engine.Stream);
            b.Record(engine.Stream);
            b.Synchronize();
            times[i] = CudaEvent.ElapsedMs(a, b) / 1e3;
        }
        Array.Sort(times);
        return (times[iterations / 2], times[0]);
    }

    /// <summary>
    /// Where an iteration's time goes: the whole iteration (as <see cref="Measure"/>), its dense projections alone and its
    /// attention alone, each from its own CUDA graph; the rest (embedding, RoPE and cache writes, sampling, and the gaps
    /// between kernels) is what the whole iteration takes beyond the two.
    /// </summary>
    public static IterationBreakdown MeasureBreakdown(TransformerEngine engine, string label, IterationComposition c, int warmup = 3, int iterations = 20)
    {
        var whole = Measure(engine, label, c, warmup, iterations);
        var projections = TimePart(engine, IterationPart.Projections, warmup, iterations).Median;
        var attention = TimePart(engine, IterationPart.Attention, warmup, iterations).Median;
        return new IterationBreakdown(whole, projections, attention);
    }

    /// <summary>Prepares <paramref name="c"/>, runs <paramref name="warmup"/> iterations, then times <paramref name="iterations"/> one by one.</summary>
    /// <remarks>Each iteration is timed with CUDA events on every GPU's stream; a whole instance's iteration takes as long as its slowest GPU's.</remarks>
    public static BenchResult Measure(IEngineInstance engine, string label, IterationComposition c, int warmup = 3, int iterations = 20)
    {
        engine.Prepare(c);
        engine.Enqueue(warmup);
        engine.Synchronize();
        var times = new double[iterations];
        var devices = engine.Devices;
        var multi = devices.Count > 1;
        var a = new CudaEvent[devices.Count];
        var b = new CudaEvent[devices.Count];
        try
        {
            for (var r = 0; r < devices.Count; r++)
            {
                devices[r].Context.MakeCurrent();
                a[r] = new CudaEvent();
                b[r] = new CudaEvent();
            }
            for (var i = 0; i < iterations; i++)
            {
                for (var r = 0; r < devices.Count; r++)
                {
                    if (multi) devices[r].Context.MakeCurrent();
                    a[r].Record(devices[r].Stream);
                }
                engine.Enqueue(1);
                for (var r = 0; r < devices.Count; r++)
                {
                    if (multi) devices[r].Context.MakeCurrent();
                    b[r].Record(devices[r].Stream);
                }
                double t = 0;
                for (var r = 0; r < devices.Count; r++)
                {
                    b[r].Synchronize();
                    t = Math.Max(t, CudaEvent.ElapsedMs(a[r], b[r]) / 1e3);
                }
                times[i] = t;
            }
        }
        finally
        {
            for (var r = 0; r < devices.Count; r++)
            {
                devices[r].Context.MakeCurrent();
                a[r]?.Dispose();
                b[r]?.Dispose();
            }
        }
        Array.Sort(times);
        return new BenchResult(label, c, times[iterations / 2], times[0], iterations, EngineMath.Flops(engine.Shard, c), EngineMath.Bytes(engine.Shard, c), engine.UsesGraph);
    }

    /// <summary>Measures the GEMM rate and copy bandwidth of one GPU of the engine (rank 0 of a whole instance).</summary>
    public static Roofline MeasureRoofline(IEngineInstance engine) => engine switch
    {
        TransformerEngine e => MeasureRoofline(e),
        TensorParallelEngine tp => MeasureRoofline(tp.Ranks[0]),
        _ => throw new NotSupportedException($"no roofline measurement for {engine.GetType().Name}"),
    };

    /// <summary>Measures the GEMM rate (8192³ bf16, random operands) and copy bandwidth (1 GiB device-to-device) on the engine's GPU.</summary>
    public static unsafe Roofline MeasureRoofline(TransformerEngine engine)
    {
        engine.Context.MakeCurrent();
        const int n = 8192;
        var s = engine.Stream;
        using var x = new DeviceBuffer((long)n * n * 2);
        using var w = new DeviceBuffer((long)n * n * 2);
        using var y = new DeviceBuffer((long)n * n * 2);
        engine.Kernels.FillUniform(s, x.Ptr, (long)n * n, 11, 1f);
        engine.Kernels.FillUniform(s, w.Ptr, (long)n * n, 12, 1f);
        for (var i = 0; i < 3; i++) engine.Gemm.Run(s, x.Ptr, w.Ptr, y.Ptr, n, n, n);
        using var a = new CudaEvent();
        using var b = new CudaEvent();
        var gemm = new List<double>();
        for (var i = 0; i < 10; i++)
        {
            a.Record(s);
            engine.Gemm.Run(s, x.Ptr, w.Ptr, y.Ptr, n, n, n);
            b.Record(s);
            b.Synchronize();
            gemm.Add(CudaEvent.ElapsedMs(a, b) / 1e3);
        }
        gemm.Sort();
        double flops = 2.0 * n * n * (double)n / gemm[gemm.Count / 2];

        const long bytes = 1L << 30;
        using var src = new DeviceBuffer(bytes);
        using var dst = new DeviceBuffer(bytes);
        engine.Kernels.FillUniform(s, src.Ptr, bytes / 2, 13, 1f);
        s.Synchronize();
        var copies = new List<double>();
        for (var i = 0; i < 8; i++)
        {
            var sw = Stopwatch.StartNew();
            Cu.Check(CuNative.cuMemcpyDtoD_v2(dst.Ptr, src.Ptr, (nuint)bytes), "cuMemcpyDtoD");
            engine.Context.Synchronize();
            copies.Add(sw.Elapsed.TotalSeconds);
        }
        copies.Sort();
        return new Roofline(flops, 2.0 * bytes / copies[1]);
    }
}
