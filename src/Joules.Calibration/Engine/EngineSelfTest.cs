using Joules.Cuda;
using Joules.Profiles;

namespace Joules.Calibration.Engine;

/// <summary>Outcome of one device check: relative error against the float64 CPU reference and how many outputs the kernel left unwritten (still NaN); a check that cannot run here (too few GPUs) carries the reason in SkippedBecause and neither passes nor fails.</summary>
public sealed record SelfTestResult(string Name, double RelError, double Tolerance, long Unwritten, long Elements, string? Error = null, string? SkippedBecause = null)
{
    public bool Skipped => SkippedBecause != null;
    public bool Passed => Skipped || (Error == null && Unwritten == 0 && !double.IsNaN(RelError) && RelError <= Tolerance);
}

/// <summary>Checks every engine kernel and a whole small model on the GPU against float64 CPU references on fresh random inputs, outputs poisoned (NaN) first.</summary>
public static class EngineSelfTest
{
    /// <summary>bf16 operands: METHOD.md's bound for bf16 (outputs rounded to bf16 give about 3e-3).</summary>
    public const double Bf16Tolerance = 1e-2;
    private const ushort NaN16 = 0xFFFF;

    /// <summary>The small card the whole-model check runs (2 layers, GQA, QKV bias so the bias path is exercised too).</summary>
    public static ModelCard TinyModel { get; } = new()
    {
        Name = "selftest-tiny", Layers = 2, Hidden = 512, Heads = 8, KvHeads = 2, HeadDim = 128, Ffn = 1024, Vocab = 1000,
        RopeTheta = 500000, QkvBias = true,
    };

    /// <summary>Runs all checks; <paramref name="seed"/> draws the inputs (a fresh seed gives fresh inputs).</summary>
    public static List<SelfTestResult> RunAll(int seed = 0, Action<SelfTestResult>? progress = null)
    {
        if (seed == 0) seed = Environment.TickCount;
        var results = new List<SelfTestResult>();
        void Add(string name, Func<SelfTestResult> check)
        {
            SelfTestResult r;
            try { r = check(); }
            catch (Exception e) { r = new SelfTestResult(name, double.NaN, Bf16Tolerance, 0, 0, e.Message); }
            results.Add(r);
            progress?.Invoke(r);
        }
        // Joules' own prefill kernel here (the default runs cuDNN where it loads, which the cuDNN engine below checks), so the
        // fallback path stays checked end to end on machines that have cuDNN.
        using var engine = new TransformerEngine(TinyModel, 1, new EngineOptions { UseGraphs = true, Seed = (uint)seed, PrefillAttention = PrefillAttention.Joules });
        var rnd = new Random(seed);
        var k = engine.Kernels;
        var s = engine.Stream;
        Add("gemm t=77 n=192 k=256", () => Gemm(engine, rnd, 77, 192, 256, false));
        Add("gemm accumulate t=5 n=4096 k=512", () => Gemm(engine, rnd, 5, 4096, 512, true));
        Add("rmsnorm (gathered rows)", () => RmsNorm(k, s, rnd));
        Add("silu_mul", () => SiluMul(k, s, rnd));
        Add("embedding", () => Embed(k, s, rnd));
        Add("qkv bias + rope + cache write", () => Rope(k, s, rnd));
        foreach (var pipe in new[] { true, false })
        {
            Add($"prefill attention d128 gqa4 chunked pipelined={pipe}", () => Prefill(k, s, rnd, 8, 2, 128, pipe));
            Add($"prefill attention d64 gqa8 chunked pipelined={pipe}", () => Prefill(k, s, rnd, 8, 1, 64, pipe));
        }
        // cuDNN's fused attention over fresh prompts of mixed lengths (one token, a tile's edge, long ones), ragged in the QKV rows.
        // Prompts of one length run as a plain batch (no per-prompt lengths), as one prompt alone does.
        int[] promptLengths = [37, 64, 1, 300, 129, 70];
        foreach (var (hq, hk, d) in new[] { (8, 2, 128), (8, 1, 64), (4, 4, 128) })
            Add($"prefill attention cudnn d{d} gqa{hq / hk} ragged prompts", () => CudnnPrefill(s, rnd, hq, hk, d, promptLengths));
        Add("prefill attention cudnn d128 gqa4 batch of 3x200", () => CudnnPrefill(s, rnd, 8, 2, 128, [200, 200, 200]));
        Add("prefill attention cudnn d64 gqa8 one prompt of 333", () => CudnnPrefill(s, rnd, 8, 1, 64, [333]));
        // Chunks over a paged cache (and a fresh prompt among them) through cuDNN's paged cache load.
        foreach (var (hq, hk, d) in new[] { (8, 2, 128), (8, 1, 64) })
            Add($"prefill attention cudnn d{d} gqa{hq / hk} chunks over a paged cache", () => CudnnChunks(s, rnd, hq, hk, d));
        foreach (var (hq, hk, d) in new[] { (8, 2, 128), (8, 1, 64) })
            Add($"prefill attention cudnn d{d} gqa{hq / hk} bucketed plan (serving)", () => CudnnBucketed(s, rnd, hq, hk, d));
        int sms = engine.Context.MultiprocessorCount;
        // The streaming GEMV at every row count it has a kernel for, each input mode; n not a multiple of its 4 rows per
        // block and k not a multiple of one warp sweep (256) check the edges; gathered rows as the LM head reads them.
        foreach (var (t, n, kd) in new[] { (1, 1030, 4096), (1, 37, 264), (3, 258, 1000), (4, 4098, 512), (2, 513, 14336 / 4), (4, 100, 8) })
            foreach (var mode in new[] { GemvInput.Plain, GemvInput.RmsNorm, GemvInput.SwiGlu })
                Add($"gemv {mode} t={t} n={n} k={kd}", () => Gemv(k, s, rnd, mode, t, n, kd, accumulate: mode != GemvInput.RmsNorm && t % 2 == 1, gather: mode == GemvInput.RmsNorm && t > 2));
        foreach (var v in new[] { DecodeKernel.WorkList, DecodeKernel.TensorCore, DecodeKernel.SinglePass, DecodeKernel.TwoPass })
        {
            Add($"decode attention d128 gqa4 split-k {v}", () => Decode(k, s, rnd, 8, 2, 128, sms, v, [1, 70, 700, 2000, 33]));
            Add($"decode attention d64 gqa8 split-k {v}", () => Decode(k, s, rnd, 8, 1, 64, sms, v, [1, 70, 700, 2000, 33]));
            Add($"decode attention d128 gqa1 split-k {v}", () => Decode(k, s, rnd, 4, 4, 128, sms, v, [1, 70, 700, 2000, 33]));
        }
        // The work list with many sequences of very different lengths (one long, many short, some at a chunk's edge),
        // planned for few SMs (long chunks, the long sequence split in two) and for all of them (short chunks).
        int[] spread = [.. Enumerable.Range(0, 40).Select(i => i == 7 ? 9000 : i % 5 == 0 ? 63 : 1 + (i * 97) % 700)];
        // Long contexts on few SMs: more items than blocks, so blocks take several items in turn.
        int[] longs = [.. Enumerable.Range(0, 6).Select(i => 3000 + 1500 * i)];
        foreach (var m in new[] { sms, 2 })
            Add($"decode attention d128 gqa4 work list, 40 spread contexts, {m} SMs", () => Decode(k, s, rnd, 8, 2, 128, m, DecodeKernel.WorkList, spread));
        Add("decode attention d128 gqa4 work list, blocks looping over items", () => Decode(k, s, rnd, 8, 2, 128, 1, DecodeKernel.WorkList, longs));
        Add("decode attention d128 gqa8 work list, blocks looping over items", () => Decode(k, s, rnd, 8, 1, 128, 1, DecodeKernel.WorkList, longs));
        // A group of 8 query heads as one item (DecodeMaxGroup 8, the kernel before the split) and split into two items
        // of 4 over several kv heads (the 70B tp2 shard's layout: 32 query heads, 4 kv heads).
        Add("decode attention d128 gqa8 work list, one item per group", () => Decode(k, s, rnd, 8, 1, 128, sms, DecodeKernel.WorkList, spread, maxGroup: 8));
        Add("decode attention d128 gqa8 work list, 4 kv heads split in two", () => Decode(k, s, rnd, 32, 4, 128, sms, DecodeKernel.WorkList, spread));
        Add("decode attention d64 gqa8 work list, groups of 2", () => Decode(k, s, rnd, 16, 2, 64, sms, DecodeKernel.WorkList, [1, 70, 700, 2000, 33], maxGroup: 2));
        // The tensor-core kernel on the same layouts: spread contexts (chunk edges, one key), few SMs (blocks looping over
        // items), the 70B shards' groups of 8 over 1 and 4 kv heads, groups of 2 and 1 at head size 64, and a group of 3
        // (rows of the tile left empty that are not a power of two).
        foreach (var m in new[] { sms, 2 })
            Add($"decode attention d128 gqa4 tensor cores, 40 spread contexts, {m} SMs", () => Decode(k, s, rnd, 8, 2, 128, m, DecodeKernel.TensorCore, spread));
        Add("decode attention d128 gqa8 tensor cores, blocks looping over items", () => Decode(k, s, rnd, 8, 1, 128, 1, DecodeKernel.TensorCore, longs));
        Add("decode attention d128 gqa8 tensor cores, 40 spread contexts", () => Decode(k, s, rnd, 8, 1, 128, sms, DecodeKernel.TensorCore, spread));
        Add("decode attention d128 gqa8 tensor cores, 4 kv heads", () => Decode(k, s, rnd, 32, 4, 128, sms, DecodeKernel.TensorCore, spread));
        Add("decode attention d64 gqa2 tensor cores", () => Decode(k, s, rnd, 16, 8, 64, sms, DecodeKernel.TensorCore, [1, 70, 700, 2000, 33, 16, 17]));
        Add("decode attention d64 gqa3 tensor cores", () => Decode(k, s, rnd, 6, 2, 64, sms, DecodeKernel.TensorCore, spread));
        Add("decode attention d128 gqa1 tensor cores, 40 spread contexts", () => Decode(k, s, rnd, 4, 4, 128, sms, DecodeKernel.TensorCore, spread));
        Add("argmax", () => Argmax(k, s, rnd));
        foreach (var r in Model(engine, "model (2 layers, mixed batch, graph)", MixedBatch)) { results.Add(r); progress?.Invoke(r); }
        // Iterations of at most GemvMaxTokens tokens stream their projections through the GEMV kernels, norms and SwiGLU fused in.
        using (var gemvEngine = new TransformerEngine(TinyModel, 1, new EngineOptions { UseGraphs = true, Seed = (uint)seed + 1, GemvMaxTokens = EngineKernels.GemvMaxRows }))
            foreach (var r in Model(gemvEngine, $"model (2 layers, {DecodeBatch.Sequences.Count} decodes: fused GEMV path, graph)", DecodeBatch)) { results.Add(r); progress?.Invoke(r); }
        foreach (var r in Model(engine, "model (2 layers, 1 decode: cuBLASLt path, graph)", SingleDecode)) { results.Add(r); progress?.Invoke(r); }
        // The mixed batch again with prefill attention through cuDNN (fresh prompts from the QKV rows, the chunk over a cache from the paged cache).
        const string cudnnModel = "model (2 layers, mixed batch, cuDNN prefill attention, graph)";
        if (!Cudnn.IsAvailable(out var noCudnn)) Add(cudnnModel, () => new SelfTestResult(cudnnModel, double.NaN, Bf16Tolerance, 0, 0, SkippedBecause: noCudnn));
        else
            using (var cudnnEngine = new TransformerEngine(TinyModel, 1, new EngineOptions { UseGraphs = true, Seed = (uint)seed + 2, PrefillAttention = PrefillAttention.Cudnn }))
                foreach (var r in Model(cudnnEngine, cudnnModel, MixedBatch)) { results.Add(r); progress?.Invoke(r); }
        // The default (auto) must take cuDNN where it loads: its probe plans the engine's three graphs for this model's heads.
        const string probe = "prefill attention auto: cuDNN's graphs plan for the tiny model and an 8B shard (the engine's probe)";
        if (!Cudnn.IsAvailable(out var noProbe)) Add(probe, () => new SelfTestResult(probe, double.NaN, Bf16Tolerance, 0, 0, SkippedBecause: noProbe));
        else
            Add(probe, () =>
            {
                using var handle = new CudnnHandle(s);
                var shard = TinyModel.Shard(1);
                var why = CudnnPrefillAttention.Probe(handle, shard.Heads, shard.KvHeads, shard.HeadDim, EngineMath.DefaultPageSize)
                          ?? CudnnPrefillAttention.Probe(handle, 32, 8, 128, EngineMath.DefaultPageSize);
                return new SelfTestResult(probe, 0, Bf16Tolerance, 0, 0, Error: why is null ? null : $"auto would fall back to Joules' kernel: {why}");
            });
        return results;
    }

    /// <summary>Degrees the whole-instance checks run at (each skipped where the machine has fewer GPUs).</summary>
    public static IReadOnlyList<int> TensorParallelDegrees { get; } = [1, 2, 4, 8];

    /// <summary>
    /// Whole-instance checks through NCCL: a bf16 sum all-reduce over every GPU against a float64 sum, then the tiny
    /// model split over tp GPUs (tp=1: one GPU through a one-rank communicator) against the same model unsplit on
    /// GPU 0: final hidden states on every rank and the gathered logits within the bf16 tolerance, greedy tokens
    /// equal to the argmax of the gathered logits (and, at tp=1, bit-for-bit the unsplit engine's tokens).
    /// </summary>
    public static List<SelfTestResult> RunTensorParallel(IReadOnlyList<int>? degrees = null, int seed = 0, Action<SelfTestResult>? progress = null)
    {
        if (seed == 0) seed = Environment.TickCount;
        var results = new List<SelfTestResult>();
        void Add(SelfTestResult r) { results.Add(r); progress?.Invoke(r); }
        var gpus = Cu.DeviceCount();
        if (!Nccl.IsAvailable(out var why))
        {
            Add(new SelfTestResult("nccl", double.NaN, Bf16Tolerance, 0, 0, why));
            return results;
        }
        var rnd = new Random(seed);
        try { Add(NcclAllReduce(rnd, gpus)); }
        catch (Exception e) { Add(new SelfTestResult($"nccl all-reduce bf16 sum over {gpus} GPU(s)", double.NaN, Bf16Tolerance, 0, 0, e.Message)); }
        foreach (var tp in degrees ?? TensorParallelDegrees)
        {
            var name = tp == 1 ? "model tp=1 through NCCL (one-rank communicator)" : $"model tp={tp} on {tp} GPUs vs tp=1";
            if (tp > gpus)
            {
                Add(new SelfTestResult(name, double.NaN, Bf16Tolerance, 0, 0, SkippedBecause: $"needs {tp} GPUs, this machine has {gpus}"));
                continue;
            }
            foreach (var r in ModelTensorParallel(tp, seed, name)) Add(r);
        }
        return results;
    }

    private static SelfTestResult NcclAllReduce(Random rnd, int gpus)
    {
        const int n = 1 << 20;
        var devices = Enumerable.Range(0, gpus).ToArray();
        var comms = NcclCommunicator.InitAll(devices);
        var ctxs = new List<CudaContext>();
        var streams = new List<CudaStream>();
        var bufs = new List<DeviceBuffer>();
        try
        {
            var inputs = new List<double[]>();
            foreach (var d in devices)
            {
                var ctx = new CudaContext(d);
                ctxs.Add(ctx);
                streams.Add(new CudaStream());
                var x = RandomBf16(rnd, n);
                inputs.Add(x.Values);
                bufs.Add(Up(x.Bits));
            }
            // One thread drives every rank: NCCL's group call launches the ranks' collectives together.
            using (Nccl.Group())
                for (var r = 0; r < gpus; r++)
                {
                    ctxs[r].MakeCurrent();
                    comms[r].AllReduceSumBf16(bufs[r].Ptr, bufs[r].Ptr, n, streams[r]);
                }
            var reference = new double[n];
            foreach (var x in inputs) for (var i = 0; i < n; i++) reference[i] += x[i];
            SelfTestResult? worst = null;
            for (var r = 0; r < gpus; r++)
            {
                ctxs[r].MakeCurrent();
                streams[r].Synchronize();
                var c = Compare("", bufs[r].Download<ushort>(n), reference);
                if (worst is null || c.RelError > worst.RelError) worst = c;
            }
            return worst! with { Name = $"nccl all-reduce bf16 sum over {gpus} GPU(s) (NCCL {Nccl.Version()})", Elements = (long)n * gpus };
        }
        finally
        {
            for (var r = 0; r < bufs.Count; r++) { ctxs[r].MakeCurrent(); bufs[r].Dispose(); streams[r].Dispose(); }
            NcclCommunicator.DestroyAll(comms);
            foreach (var c in ctxs) c.Dispose();
        }
    }

    /// <summary>The tiny model at tp on GPUs 0..tp-1, its weights and cache sliced from an unsplit engine's, one mixed iteration each.</summary>
    private static IEnumerable<SelfTestResult> ModelTensorParallel(int tp, int seed, string name)
    {
        var results = new List<SelfTestResult>();
        try
        {
            // The default prefill attention (cuDNN where it loads: one handle per rank) on both sides.
            var options = new EngineOptions { UseGraphs = true, Seed = (uint)seed };
            using var reference = new TransformerEngine(TinyModel, 1, options);
            using var instance = new TensorParallelEngine(TinyModel, tp, Enumerable.Range(0, tp).ToArray(), options);
            var comp = new IterationComposition([new SequenceWork(37, 50), new SequenceWork(1, 70), new SequenceWork(20, 0), new SequenceWork(1, 300), new SequenceWork(65, 0)]);
            reference.Prepare(comp);
            instance.Prepare(comp);
            CopySlices(reference, instance);
            var p = reference.Current!;
            var m = reference.Shard;
            int h = m.Hidden, v = m.Model.Vocab, seqs = p.Sequences, t = p.Tokens;
            reference.Context.MakeCurrent();
            p.X.Fill16(NaN16); p.Logits.Fill16(NaN16); p.H.Fill16(NaN16); p.Attn.Fill16(NaN16);
            foreach (var r in instance.Ranks)
            {
                r.Context.MakeCurrent();
                var q = r.Current!;
                q.X.Fill16(NaN16); q.Logits.Fill16(NaN16); q.H.Fill16(NaN16); q.Attn.Fill16(NaN16); q.Gathered!.Fill16(NaN16);
                r.Context.Synchronize();   // the poison (legacy stream) lands before the iteration (non-blocking stream) starts
            }
            reference.Context.Synchronize();
            reference.Enqueue(1);
            reference.Synchronize();
            instance.Enqueue(1);
            instance.Synchronize();
            reference.Context.MakeCurrent();
            var refX = p.X.Download<ushort>((long)t * h).Select(FromBf16).ToArray();
            var refLogits = p.Logits.Download<ushort>((long)seqs * v).Select(FromBf16).ToArray();
            var refTokens = reference.NextTokens();

            SelfTestResult? hidden = null;
            foreach (var r in instance.Ranks)
            {
                r.Context.MakeCurrent();
                var c = Compare("", r.Current!.X.Download<ushort>((long)t * h), refX);
                if (hidden is null || c.RelError > hidden.RelError || c.Unwritten > 0) hidden = c;
            }
            results.Add(hidden! with { Name = $"{name}: hidden states (every rank)" });

            var rank0 = instance.Ranks[0];
            rank0.Context.MakeCurrent();
            int vs = rank0.Shard.VocabShard;
            var gathered = rank0.Current!.Gathered!.Download<ushort>((long)tp * seqs * vs);
            var logits = new ushort[(long)seqs * v];
            for (var s = 0; s < seqs; s++)
                for (var g = 0; g < v; g++)
                    logits[(long)s * v + g] = gathered[((long)(g / vs) * seqs + s) * vs + g % vs];
            results.Add(Compare("", logits, refLogits) with { Name = $"{name}: gathered logits" });

            var tokens = instance.NextTokens();
            int bad = 0;
            for (var s = 0; s < seqs; s++)
            {
                int best = 0;
                for (var g = 1; g < v; g++) if (FromBf16(logits[(long)s * v + g]) > FromBf16(logits[(long)s * v + best])) best = g;
                if (best != tokens[s] || (tp == 1 && tokens[s] != refTokens[s])) bad++;
            }
            results.Add(new SelfTestResult($"{name}: greedy tokens{(tp == 1 ? " (= unsplit engine's)" : "")}", bad, 0, 0, seqs));
        }
        catch (Exception ex)
        {
            results.Add(new SelfTestResult(name, double.NaN, Bf16Tolerance, 0, 0, ex.Message));
        }
        return results;
    }

    /// <summary>Gives every rank of <paramref name="instance"/> its slice of <paramref name="reference"/>'s weights and KV cache.</summary>
    private static void CopySlices(TransformerEngine reference, TensorParallelEngine instance)
    {
        var model = reference.Shard.Model;
        var layout = instance.Layout;
        int h = model.Hidden, a = model.Heads * model.HeadDim, f = model.Ffn, q = model.QkvWidth, d = model.HeadDim;
        reference.Context.MakeCurrent();
        ushort[] D(DeviceBuffer b, long n) => b.Download<ushort>(n);
        var layers = reference.Layers.Select(w => (Qkv: D(w.Qkv, (long)q * h), Bias: w.QkvBias is null ? null : D(w.QkvBias, q), O: D(w.O, (long)h * a),
            GateUp: D(w.GateUp, 2L * f * h), Down: D(w.Down, (long)h * f), N1: D(w.AttnNorm, h), N2: D(w.MlpNorm, h))).ToArray();
        var emb = D(reference.Embedding, (long)model.Vocab * h);
        var lm = D(reference.LmHead, (long)model.Vocab * h);
        var fin = D(reference.FinalNorm, h);
        var p = reference.Current!;
        long slots = p.LayerCacheBytes / 2 / (model.KvHeads * d);
        var kc = D(p.KCache, p.LayerCacheBytes / 2 * model.Layers);
        var vc = D(p.VCache, p.LayerCacheBytes / 2 * model.Layers);
        for (var r = 0; r < layout.Tp; r++)
        {
            var e = instance.Ranks[r];
            e.Context.MakeCurrent();
            for (var l = 0; l < model.Layers; l++)
            {
                var w = e.Layers[l];
                var full = layers[l];
                w.Qkv.Upload<ushort>(MatrixSlices.Rows(full.Qkv, h, layout.QkvRows(r)));
                if (full.Bias is not null) w.QkvBias!.Upload<ushort>(MatrixSlices.Rows(full.Bias, 1, layout.QkvRows(r)));
                w.O.Upload<ushort>(MatrixSlices.Columns(full.O, h, a, layout.OColumns(r)));
                w.GateUp.Upload<ushort>(MatrixSlices.Rows(full.GateUp, h, layout.GateUpRows(r)));
                w.Down.Upload<ushort>(MatrixSlices.Columns(full.Down, h, f, layout.Ffn(r)));
                w.AttnNorm.Upload<ushort>(full.N1);
                w.MlpNorm.Upload<ushort>(full.N2);
            }
            e.Embedding.Upload<ushort>(MatrixSlices.Rows(emb, h, [layout.Vocab(r)]));
            e.LmHead.Upload<ushort>(MatrixSlices.Rows(lm, h, [layout.Vocab(r)]));
            e.FinalNorm.Upload<ushort>(fin);
            // Cache rows are [layer][slot][kv head][head dim]: each rank keeps its kv heads of every slot.
            var kv = layout.KvHeads(r);
            var rows = Enumerable.Range(0, (int)(slots * model.Layers)).Select(i => new Span1D(i * model.KvHeads + kv.Start, kv.Count)).ToArray();
            e.Current!.KCache.Upload<ushort>(MatrixSlices.Rows(kc, d, rows));
            e.Current!.VCache.Upload<ushort>(MatrixSlices.Rows(vc, d, rows));
        }
    }

    // ------------------------------------------------------------ helpers
    internal static ushort ToBf16(double v)
    {
        uint u = BitConverter.SingleToUInt32Bits((float)v);
        if ((u & 0x7fffffff) > 0x7f800000) return 0x7fc0;
        u += 0x7fff + ((u >> 16) & 1);
        return (ushort)(u >> 16);
    }

    internal static double FromBf16(ushort h) => BitConverter.UInt32BitsToSingle((uint)h << 16);

    /// <summary>Rounds to the nearest bf16, as the GPU does where it stores an intermediate.</summary>
    internal static double R(double v) => FromBf16(ToBf16(v));

    internal static (ushort[] Bits, double[] Values) RandomBf16(Random rnd, long n, double scale = 1, double offset = 0)
    {
        var bits = new ushort[n];
        var vals = new double[n];
        for (long i = 0; i < n; i++) { bits[i] = ToBf16(offset + scale * (rnd.NextDouble() * 2 - 1)); vals[i] = FromBf16(bits[i]); }
        return (bits, vals);
    }

    private static DeviceBuffer Up(ushort[] a) { var b = new DeviceBuffer(a.Length * 2L); b.Upload<ushort>(a); return b; }
    private static DeviceBuffer Up(int[] a) { var b = new DeviceBuffer(Math.Max(1, a.Length) * 4L); if (a.Length > 0) b.Upload<int>(a); return b; }
    private static DeviceBuffer Poisoned(long elements) { var b = new DeviceBuffer(elements * 2); b.Fill16(NaN16); return b; }

    internal static SelfTestResult Compare(string name, ushort[] got, double[] reference, double tol = Bf16Tolerance, bool[]? mask = null)
    {
        double num = 0, den = 0;
        long unwritten = 0, n = 0;
        for (var i = 0; i < reference.Length; i++)
        {
            if (mask != null && !mask[i]) continue;
            n++;
            var g = FromBf16(got[i]);
            if (double.IsNaN(g)) { unwritten++; continue; }
            num += (g - reference[i]) * (g - reference[i]);
            den += reference[i] * reference[i];
        }
        return new SelfTestResult(name, den > 0 ? Math.Sqrt(num / den) : Math.Sqrt(num), tol, unwritten, n);
    }

    // ------------------------------------------------------------ kernels
    private static SelfTestResult Gemm(TransformerEngine e, Random rnd, int t, int n, int kd, bool acc)
    {
        var x = RandomBf16(rnd, (long)t * kd); var w = RandomBf16(rnd, (long)n * kd); var y0 = RandomBf16(rnd, (long)t * n);
        using var bx = Up(x.Bits); using var bw = Up(w.Bits);
        using var by = acc ? Up(y0.Bits) : Poisoned((long)t * n);
        e.Gemm.Run(e.Stream, bx.Ptr, bw.Ptr, by.Ptr, t, n, kd, acc);
        e.Stream.Synchronize();
        var reference = new double[(long)t * n];
        for (var i = 0; i < t; i++)
            for (var j = 0; j < n; j++)
            {
                double sum = acc ? y0.Values[(long)i * n + j] : 0;
                for (var c = 0; c < kd; c++) sum += x.Values[(long)i * kd + c] * w.Values[(long)j * kd + c];
                reference[(long)i * n + j] = sum;
            }
        return Compare($"gemm{(acc ? " accumulate" : "")} t={t} n={n} k={kd}", by.Download<ushort>((long)t * n), reference);
    }

    private static SelfTestResult Gemv(EngineKernels k, CudaStream s, Random rnd, GemvInput mode, int t, int n, int kd, bool accumulate, bool gather)
    {
        // Gathered: the t rows are picked out of 2t + 1 stored ones, in scrambled order.
        int stored = gather ? 2 * t + 1 : t;
        int[] pick = gather ? [.. Enumerable.Range(0, t).Select(i => (i * 7 + 3) % stored)] : [.. Enumerable.Range(0, t)];
        int width = mode == GemvInput.SwiGlu ? 2 * kd : kd;
        var x = RandomBf16(rnd, (long)stored * width); var w = RandomBf16(rnd, (long)n * kd); var y0 = RandomBf16(rnd, (long)t * n);
        var nw = RandomBf16(rnd, kd);
        using var bx = Up(x.Bits); using var bw = Up(w.Bits); using var bn = Up(nw.Bits); using var br = Up(pick);
        using var by = accumulate ? Up(y0.Bits) : Poisoned((long)t * n);
        k.Gemv(s, mode, bx.Ptr, gather ? br.Ptr : 0, bn.Ptr, 1e-5f, bw.Ptr, by.Ptr, t, n, kd, accumulate);
        s.Synchronize();
        var reference = new double[(long)t * n];
        for (var i = 0; i < t; i++)
        {
            var xi = new double[kd];
            long row = (long)pick[i] * width;
            if (mode == GemvInput.RmsNorm) xi = RmsNormRef(x.Values, pick[i], kd, nw.Values, 1e-5);
            else for (var c = 0; c < kd; c++)
                    xi[c] = mode == GemvInput.SwiGlu ? Silu(x.Values[row + c]) * x.Values[row + kd + c] : x.Values[row + c];
            for (var j = 0; j < n; j++)
            {
                double sum = accumulate ? y0.Values[(long)i * n + j] : 0;
                for (var c = 0; c < kd; c++) sum += xi[c] * w.Values[(long)j * kd + c];
                reference[(long)i * n + j] = sum;
            }
        }
        return Compare($"gemv {mode}{(accumulate ? " accumulate" : "")}{(gather ? " gathered" : "")} t={t} n={n} k={kd}", by.Download<ushort>((long)t * n), reference);
    }

    internal static double[] RmsNormRef(double[] x, int row, int hidden, double[] w, double eps)
    {
        double ss = 0;
        for (var i = 0; i < hidden; i++) ss += x[(long)row * hidden + i] * x[(long)row * hidden + i];
        double inv = 1 / Math.Sqrt(ss / hidden + eps);
        var o = new double[hidden];
        for (var i = 0; i < hidden; i++) o[i] = x[(long)row * hidden + i] * inv * w[i];
        return o;
    }

    private static SelfTestResult RmsNorm(EngineKernels k, CudaStream s, Random rnd)
    {
        int hidden = 4096, rows = 10;
        var x = RandomBf16(rnd, rows * hidden, 3); var w = RandomBf16(rnd, hidden, 0.2, 1);
        int[] pick = [3, 7, 9, 0];
        using var bx = Up(x.Bits); using var bw = Up(w.Bits); using var bp = Up(pick); using var bo = Poisoned(pick.Length * hidden);
        k.RmsNorm(s, bx.Ptr, bp.Ptr, bw.Ptr, bo.Ptr, pick.Length, hidden, 1e-5f);
        s.Synchronize();
        var reference = pick.SelectMany(r => RmsNormRef(x.Values, r, hidden, w.Values, 1e-5)).ToArray();
        return Compare("rmsnorm (gathered rows)", bo.Download<ushort>(pick.Length * hidden), reference);
    }

    internal static double Silu(double g) => g / (1 + Math.Exp(-g));

    private static SelfTestResult SiluMul(EngineKernels k, CudaStream s, Random rnd)
    {
        int t = 13, f = 256;
        var gu = RandomBf16(rnd, t * 2 * f, 4);
        using var bg = Up(gu.Bits); using var bo = Poisoned(t * f);
        k.SiluMul(s, bg.Ptr, bo.Ptr, t, f);
        s.Synchronize();
        var reference = new double[t * f];
        for (var i = 0; i < t; i++)
            for (var j = 0; j < f; j++) reference[i * f + j] = Silu(gu.Values[i * 2 * f + j]) * gu.Values[i * 2 * f + f + j];
        return Compare("silu_mul", bo.Download<ushort>(t * f), reference);
    }

    private static SelfTestResult Embed(EngineKernels k, CudaStream s, Random rnd)
    {
        int v = 50, hidden = 256, t = 9;
        var table = RandomBf16(rnd, v * hidden);
        var ids = Enumerable.Range(0, t).Select(_ => rnd.Next(v)).ToArray();
        using var bt = Up(table.Bits); using var bi = Up(ids); using var bo = Poisoned(t * hidden);
        k.Embed(s, bi.Ptr, bt.Ptr, bo.Ptr, t, hidden);
        s.Synchronize();
        var reference = ids.SelectMany(id => table.Values.Skip(id * hidden).Take(hidden)).ToArray();
        return Compare("embedding", bo.Download<ushort>(t * hidden), reference, 1e-6);
    }

    /// <summary>Rotates one head in place (rotate-half convention), angles from the absolute position.</summary>
    internal static void RopeRef(double[] v, int offset, int d, int pos, double theta)
    {
        int half = d / 2;
        for (var i = 0; i < half; i++)
        {
            double inv = Math.Pow(theta, -2.0 * i / d), ang = pos * inv;
            double c = Math.Cos(ang), sn = Math.Sin(ang);
            double x1 = v[offset + i], x2 = v[offset + i + half];
            v[offset + i] = x1 * c - x2 * sn;
            v[offset + i + half] = x2 * c + x1 * sn;
        }
    }

    private static SelfTestResult Rope(EngineKernels k, CudaStream s, Random rnd)
    {
        int hq = 4, hk = 2, d = 128, width = (hq + 2 * hk) * d;
        int[] pos = [0, 5, 100, 3000, 70000];
        int[] slot = [7, 0, 3, 12, 5];
        int t = pos.Length, slots = 16;
        double theta = 500000;
        var qkv = RandomBf16(rnd, t * width); var bias = RandomBf16(rnd, width, 0.1);
        using var bq = Up(qkv.Bits); using var bb = Up(bias.Bits); using var bp = Up(pos); using var bs = Up(slot);
        using var kc = Poisoned(slots * hk * d); using var vc = Poisoned(slots * hk * d);
        k.QkvRopeCache(s, bq.Ptr, bb.Ptr, bp.Ptr, bs.Ptr, kc.Ptr, vc.Ptr, t, hq, hk, d, theta);
        s.Synchronize();
        var reference = new double[t * width];
        var kref = new double[slots * hk * d]; var vref = new double[slots * hk * d];
        var kmask = new bool[slots * hk * d];
        for (var i = 0; i < t; i++)
        {
            for (var c = 0; c < width; c++) reference[i * width + c] = qkv.Values[i * width + c] + bias.Values[c];
            for (var h = 0; h < hq + hk; h++) RopeRef(reference, i * width + h * d, d, pos[i], theta);
            for (var c = 0; c < hk * d; c++)
            {
                kref[slot[i] * hk * d + c] = reference[i * width + hq * d + c];
                vref[slot[i] * hk * d + c] = reference[i * width + (hq + hk) * d + c];
                kmask[slot[i] * hk * d + c] = true;
            }
        }
        var r1 = Compare("", bq.Download<ushort>(t * width), reference);
        var r2 = Compare("", kc.Download<ushort>(slots * hk * d), kref, mask: kmask);
        var r3 = Compare("", vc.Download<ushort>(slots * hk * d), vref, mask: kmask);
        var worst = new[] { r1, r2, r3 }.MaxBy(r => r.RelError)!;
        return new SelfTestResult("qkv bias + rope + cache write", worst.RelError, Bf16Tolerance, r1.Unwritten + r2.Unwritten + r3.Unwritten,
            r1.Elements + r2.Elements + r3.Elements);
    }

    /// <summary>A random paged layout: block table with shuffled pages for sequences of the given total lengths.</summary>
    private static (int[] Table, int MaxPages, int TotalPages) Pages(Random rnd, int[] lengths, int pageSize)
    {
        int maxPages = lengths.Max(l => EngineMath.PagesFor(l, pageSize));
        int total = lengths.Sum(l => EngineMath.PagesFor(l, pageSize));
        var order = Enumerable.Range(0, total).ToArray();
        rnd.Shuffle(order);
        var table = new int[lengths.Length * maxPages];
        int next = 0;
        for (var i = 0; i < lengths.Length; i++)
            for (var j = 0; j < EngineMath.PagesFor(lengths[i], pageSize); j++) table[i * maxPages + j] = order[next++];
        return (table, maxPages, total);
    }

    /// <summary>Softmax attention of one query over keys 0..last of one sequence (reference in float64).</summary>
    internal static double[] AttendRef(double[] q, int qOff, Func<int, int, double> key, Func<int, int, double> value, int last, int d)
    {
        var sc = new double[last + 1];
        double mx = double.NegativeInfinity;
        for (var j = 0; j <= last; j++)
        {
            double dot = 0;
            for (var c = 0; c < d; c++) dot += q[qOff + c] * key(j, c);
            sc[j] = dot / Math.Sqrt(d);
            mx = Math.Max(mx, sc[j]);
        }
        double sum = 0;
        for (var j = 0; j <= last; j++) { sc[j] = Math.Exp(sc[j] - mx); sum += sc[j]; }
        var o = new double[d];
        for (var j = 0; j <= last; j++)
            for (var c = 0; c < d; c++) o[c] += sc[j] / sum * value(j, c);
        return o;
    }

    private static SelfTestResult Prefill(EngineKernels k, CudaStream s, Random rnd, int hq, int hk, int d, bool pipelined)
    {
        var c = PagedChunks.Make(rnd, [(37, 50), (64, 0), (100, 130), (1, 0), (70, 5)], hq, hk, d);
        var tiles = new List<int>();
        for (var i = 0; i < c.Seqs.Length; i++)
            for (var q0 = 0; q0 < c.Seqs[i].New; q0 += 64) { tiles.Add(i); tiles.Add(q0); }
        using var bq = Up(c.Qkv.Bits); using var bk = Up(c.KCache.Bits); using var bv = Up(c.VCache.Bits); using var bt = Up(c.Table);
        using var bti = Up(tiles.ToArray()); using var bs = Up(c.Start); using var bn = Up(c.Seqs.Select(x => x.New).ToArray());
        using var bc = Up(c.Seqs.Select(x => x.Ctx).ToArray()); using var bo = Poisoned(c.OutputElements);
        k.PrefillAttention(s, d, bq.Ptr, bk.Ptr, bv.Ptr, bt.Ptr, c.MaxPages, PagedChunks.PageSize, bti.Ptr, tiles.Count / 2, bs.Ptr, bn.Ptr, bc.Ptr, bo.Ptr, hq, hk, pipelined);
        s.Synchronize();
        return Compare($"prefill attention d{d} gqa{hq / hk} chunked pipelined={pipelined}", bo.Download<ushort>(c.OutputElements), c.Reference());
    }

    /// <summary>Random prefill chunks over a shuffled paged cache (their own keys and values in it too) and where each starts in the QKV rows.</summary>
    private sealed record PagedChunks((int New, int Ctx)[] Seqs, int Hq, int Hk, int D, int[] Table, int MaxPages, int TotalPages,
        (ushort[] Bits, double[] Values) Qkv, (ushort[] Bits, double[] Values) KCache, (ushort[] Bits, double[] Values) VCache, int[] Start)
    {
        public const int PageSize = 16;

        /// <summary>Chunks of <paramref name="seqs"/> (new tokens over cached ones) for <paramref name="hq"/> query heads,
        /// <paramref name="hk"/> kv heads of <paramref name="d"/>, drawn from <paramref name="rnd"/>, with <paramref name="gap"/>
        /// rows between chunks (a serving iteration's decode rows, which no prefill attention writes).</summary>
        public static PagedChunks Make(Random rnd, (int New, int Ctx)[] seqs, int hq, int hk, int d, int gap = 0)
        {
            int width = (hq + 2 * hk) * d;
            var (table, maxPages, totalPages) = Pages(rnd, seqs.Select(x => x.New + x.Ctx).ToArray(), PageSize);
            var start = new int[seqs.Length];
            for (var i = 1; i < seqs.Length; i++) start[i] = start[i - 1] + seqs[i - 1].New + gap;
            var qkv = RandomBf16(rnd, (long)(start[^1] + seqs[^1].New) * width);
            var kc = RandomBf16(rnd, (long)totalPages * PageSize * hk * d);
            var vc = RandomBf16(rnd, (long)totalPages * PageSize * hk * d);
            return new PagedChunks(seqs, hq, hk, d, table, maxPages, totalPages, qkv, kc, vc, start);
        }

        /// <summary>QKV and output rows, gaps included.</summary>
        public int Rows => Start[^1] + Seqs[^1].New;

        /// <summary>Elements of the attention output rows.</summary>
        public long OutputElements => (long)Rows * Hq * D;

        /// <summary>Which output elements belong to a chunk (not to a gap).</summary>
        public bool[] ChunkElements()
        {
            var mask = new bool[OutputElements];
            for (var i = 0; i < Seqs.Length; i++) Array.Fill(mask, true, Start[i] * Hq * D, Seqs[i].New * Hq * D);
            return mask;
        }

        /// <summary>The block table widened to <paramref name="columns"/> pages per chunk (zeros past each chunk's pages), as a bucketed plan reads it.</summary>
        public int[] TableWidth(int columns)
        {
            var wide = new int[Seqs.Length * columns];
            for (var i = 0; i < Seqs.Length; i++) Array.Copy(Table, i * MaxPages, wide, i * columns, MaxPages);
            return wide;
        }

        /// <summary>The float64 reference output.</summary>
        public double[] Reference() => PagedPrefillReference(Qkv.Values, KCache.Values, VCache.Values, Table, MaxPages, PageSize, Seqs, Start, Hq, Hk, D, Rows);
    }

    /// <summary>float64 causal attention of prefill chunks whose keys and values (their own included) are in a paged cache: query r of a chunk over c cached tokens sees keys 0..c + r.</summary>
    private static double[] PagedPrefillReference(double[] qkv, double[] kc, double[] vc, int[] table, int maxPages, int pageSize,
        (int New, int Ctx)[] seqs, int[] start, int hq, int hk, int d, int rows)
    {
        int width = (hq + 2 * hk) * d, ow = hq * d;
        var reference = new double[(long)rows * ow];
        for (var i = 0; i < seqs.Length; i++)
        {
            int seq = i;
            long Off(int pos, int kvh) => ((long)table[seq * maxPages + pos / pageSize] * pageSize + pos % pageSize) * hk * d + kvh * d;
            for (var r = 0; r < seqs[i].New; r++)
                for (var h = 0; h < hq; h++)
                {
                    int kvh = h / (hq / hk);
                    var o = AttendRef(qkv, (start[i] + r) * width + h * d, (j, c) => kc[Off(j, kvh) + c], (j, c) => vc[Off(j, kvh) + c], seqs[i].Ctx + r, d);
                    Array.Copy(o, 0, reference, (long)(start[i] + r) * ow + h * d, d);
                }
        }
        return reference;
    }

    private static SelfTestResult CudnnChunks(CudaStream s, Random rnd, int hq, int hk, int d)
    {
        var name = $"prefill attention cudnn d{d} gqa{hq / hk} chunks over a paged cache";
        if (!Cudnn.IsAvailable(out var why)) return new SelfTestResult(name, double.NaN, Bf16Tolerance, 0, 0, SkippedBecause: why);
        var c = PagedChunks.Make(rnd, [(37, 50), (64, 0), (100, 130), (1, 700), (70, 5)], hq, hk, d);
        using var bq = Up(c.Qkv.Bits); using var bk = Up(c.KCache.Bits); using var bv = Up(c.VCache.Bits); using var bo = Poisoned(c.OutputElements);
        using var handle = new CudnnHandle(s);
        string engineLabel;
        var paged = new PagedKv(c.Seqs.Select(x => x.Ctx).ToArray(), c.Table, c.MaxPages, c.TotalPages, PagedChunks.PageSize);
        using (var attention = new CudnnPrefillAttention(handle, bq.Ptr, bo.Ptr, hq, hk, d, c.Start, c.Seqs.Select(x => x.New).ToArray(), paged))
        {
            attention.Enqueue(bk.Ptr, bv.Ptr);
            s.Synchronize();
            engineLabel = attention.EngineLabel;
        }
        return Compare($"{name} ({engineLabel})", bo.Download<ushort>(c.OutputElements), c.Reference());
    }

    // The serving engine's use of cuDNN: one bucketed plan (lengths, rows and page table as device data) run on two
    // batches of chunks in turn, decode rows between their chunks, each against its float64 reference.
    private static SelfTestResult CudnnBucketed(CudaStream s, Random rnd, int hq, int hk, int d)
    {
        var name = $"prefill attention cudnn d{d} gqa{hq / hk} one bucketed plan, two batches over a paged cache (serving)";
        if (!Cudnn.IsAvailable(out var why)) return new SelfTestResult(name, double.NaN, Bf16Tolerance, 0, 0, SkippedBecause: why);
        PagedChunks[] batches =
        [
            PagedChunks.Make(rnd, [(37, 50), (64, 0), (100, 130), (1, 700), (70, 5)], hq, hk, d, gap: 1),
            PagedChunks.Make(rnd, [(120, 3), (5, 400), (64, 64), (90, 0), (2, 222)], hq, hk, d, gap: 3),
        ];
        var bucket = PrefillBucket.For(paged: true, chunks: 5, longestChunk: batches.Max(c => c.Seqs.Max(x => x.New)),
            mostPages: batches.Max(c => c.MaxPages), maxTokens: 2048, minPages: 8, maxPages: 4096);
        int rows = batches.Max(c => c.Rows), totalPages = batches.Max(c => c.TotalPages), width = (hq + 2 * hk) * d;
        using var bq = new DeviceBuffer((long)rows * width * 2); using var bo = new DeviceBuffer((long)rows * hq * d * 2);
        using var bk = new DeviceBuffer((long)totalPages * PagedChunks.PageSize * hk * d * 2); using var bv = new DeviceBuffer(bk.Bytes);
        using var handle = new CudnnHandle(s);
        using var plan = CudnnPrefillAttention.ForBucket(handle, bq.Ptr, bo.Ptr, hq, hk, d, bucket.Chunks, bucket.Queries, bucket.PagesPerSequence, totalPages, PagedChunks.PageSize);
        SelfTestResult? worst = null;
        foreach (var c in batches)
        {
            bq.Upload<ushort>(c.Qkv.Bits); bk.Upload<ushort>(c.KCache.Bits); bv.Upload<ushort>(c.VCache.Bits);
            bo.Fill16(NaN16);
            plan.Update(s, c.Start, c.Seqs.Select(x => x.New).ToArray(),
                new PagedKv(c.Seqs.Select(x => x.Ctx).ToArray(), c.TableWidth(bucket.PagesPerSequence), bucket.PagesPerSequence, totalPages, PagedChunks.PageSize));
            plan.Enqueue(bk.Ptr, bv.Ptr);
            s.Synchronize();
            var r = Compare($"{name} ({bucket.Queries} queries x {bucket.PagesPerSequence} pages, {plan.EngineLabel})", bo.Download<ushort>(c.OutputElements), c.Reference(), mask: c.ChunkElements());
            if (worst is null || !r.Passed || r.RelError > worst.RelError) worst = r with { Elements = r.Elements + (worst?.Elements ?? 0) };
        }
        return worst!;
    }

    private static SelfTestResult CudnnPrefill(CudaStream s, Random rnd, int hq, int hk, int d, int[] lengths)
    {
        var name = $"prefill attention cudnn d{d} gqa{hq / hk} {string.Join("+", lengths)}";
        if (!Cudnn.IsAvailable(out var why)) return new SelfTestResult(name, double.NaN, Bf16Tolerance, 0, 0, SkippedBecause: why);
        int t = lengths.Sum(), width = (hq + 2 * hk) * d, ow = hq * d;
        var starts = new int[lengths.Length];
        for (var i = 1; i < lengths.Length; i++) starts[i] = starts[i - 1] + lengths[i - 1];
        var qkv = RandomBf16(rnd, (long)t * width);
        using var bq = Up(qkv.Bits); using var bo = Poisoned((long)t * ow);
        using var handle = new CudnnHandle(s);
        string engineLabel;
        using (var attention = new CudnnPrefillAttention(handle, bq.Ptr, bo.Ptr, hq, hk, d, starts, lengths))
        {
            attention.Enqueue();
            s.Synchronize();
            engineLabel = $"{(attention.Ragged ? "ragged" : "batch")}, {attention.EngineLabel}";
        }
        var reference = new double[(long)t * ow];
        for (var i = 0; i < lengths.Length; i++)
        {
            int first = starts[i];
            for (var r = 0; r < lengths[i]; r++)
                for (var h = 0; h < hq; h++)
                {
                    int kvh = h / (hq / hk);
                    var o = AttendRef(qkv.Values, (first + r) * width + h * d, (j, c) => qkv.Values[(long)(first + j) * width + (hq + kvh) * d + c],
                        (j, c) => qkv.Values[(long)(first + j) * width + (hq + hk + kvh) * d + c], r, d);
                    Array.Copy(o, 0, reference, (long)(first + r) * ow + h * d, d);
                }
        }
        return Compare($"{name} ({engineLabel})", bo.Download<ushort>((long)t * ow), reference);
    }

    private static SelfTestResult Decode(EngineKernels k, CudaStream s, Random rnd, int hq, int hk, int d, int sms, DecodeKernel variant, int[] ctx,
        int maxGroup = DecodeWork.DefaultMaxGroup)
    {
        int itemHeads = variant.ItemHeads(hq, hk, maxGroup);
        const int pageSize = 16;
        int n = ctx.Length, width = (hq + 2 * hk) * d, ow = hq * d;
        var (table, maxPages, totalPages) = Pages(rnd, ctx.Select(c => c + 1).ToArray(), pageSize);
        var qkv = RandomBf16(rnd, (long)n * width);
        var kc = RandomBf16(rnd, (long)totalPages * pageSize * hk * d);
        var vc = RandomBf16(rnd, (long)totalPages * pageSize * hk * d);
        var (splits, chunk) = EngineMath.DecodeSplits(n, hk, ctx.Max() + 1, sms);
        var start = Enumerable.Range(0, n).ToArray();
        var dseq = Enumerable.Range(0, n).ToArray();
        using var bq = Up(qkv.Bits); using var bk = Up(kc.Bits); using var bv = Up(vc.Bits); using var bt = Up(table);
        using var bs = Up(start); using var bd = Up(dseq); using var bc = Up(ctx);
        var work = new int[DecodeWork.TableLength(n)];
        int chunks = DecodeWork.Fill(ctx.Select(c => c + 1).ToArray(), itemHeads, sms, work);
        long rows = variant.UsesWorkList() ? (long)chunks * hq : (long)n * hq * splits;
        using var po = new DeviceBuffer(rows * d * 4); using var pm = new DeviceBuffer(rows * 2 * 4);
        using var bw = Up(work);
        using var bo = Poisoned((long)n * ow);
        if (variant.UsesWorkList())
            k.DecodeAttentionWorkList(s, d, bq.Ptr, bk.Ptr, bv.Ptr, bt.Ptr, maxPages, pageSize, bd.Ptr, n, bs.Ptr, bc.Ptr, bw.Ptr, sms, po.Ptr, pm.Ptr, bo.Ptr, hq, hk, itemHeads, variant);
        else
            k.DecodeAttention(s, d, bq.Ptr, bk.Ptr, bv.Ptr, bt.Ptr, maxPages, pageSize, bd.Ptr, n, bs.Ptr, bc.Ptr, po.Ptr, pm.Ptr, splits, chunk, bo.Ptr, hq, hk, variant);
        s.Synchronize();
        var reference = new double[(long)n * ow];
        for (var i = 0; i < n; i++)
        {
            int seq = i;
            long Off(int pos, int kvh) => ((long)table[seq * maxPages + pos / pageSize] * pageSize + pos % pageSize) * hk * d + kvh * d;
            for (var h = 0; h < hq; h++)
            {
                int kvh = h / (hq / hk);
                var o = AttendRef(qkv.Values, i * width + h * d, (j, c) => kc.Values[Off(j, kvh) + c], (j, c) => vc.Values[Off(j, kvh) + c], ctx[i], d);
                Array.Copy(o, 0, reference, (long)i * ow + h * d, d);
            }
        }
        var layout = variant.UsesWorkList() ? $"{chunks} chunks of {hq / itemHeads} query heads, grid {DecodeWork.Grid(n, itemHeads, sms)}" : $"{splits}x{chunk}";
        return Compare($"decode attention d{d} gqa{hq / hk} {variant} ({layout})", bo.Download<ushort>((long)n * ow), reference);
    }

    private static SelfTestResult Argmax(EngineKernels k, CudaStream s, Random rnd)
    {
        int rows = 3, v = 50000;
        var l = RandomBf16(rnd, rows * v);
        var expect = new int[rows];
        for (var r = 0; r < rows; r++)
        {
            expect[r] = rnd.Next(v);
            l.Bits[r * v + expect[r]] = ToBf16(5.0); // a unique maximum
        }
        using var bl = Up(l.Bits); using var bo = new DeviceBuffer(rows * 4); bo.Fill8(0xFF);
        k.Argmax(s, bl.Ptr, rows, v, bo.Ptr);
        s.Synchronize();
        var got = bo.Download<int>(rows);
        int wrong = Enumerable.Range(0, rows).Count(r => got[r] != expect[r]);
        return new SelfTestResult("argmax", wrong, 0, got.Count(g => g == -1), rows);
    }

    // ------------------------------------------------------------ whole model
    private static double[] Dl(DeviceBuffer b, long n) => b.Download<ushort>(n).Select(FromBf16).ToArray();

    /// <summary>Runs a mixed iteration (chunked prefill, fresh prefill, decodes) of the tiny model through its CUDA graph and compares the final hidden states and logits with a float64 forward pass that rounds to bf16 where the GPU stores.</summary>
    private static readonly IterationComposition MixedBatch =
        new([new SequenceWork(37, 50), new SequenceWork(1, 70), new SequenceWork(20, 0), new SequenceWork(1, 300), new SequenceWork(65, 0)]);
    private static readonly IterationComposition DecodeBatch =
        new([new SequenceWork(1, 70), new SequenceWork(1, 300), new SequenceWork(1, 0), new SequenceWork(1, 129)]);
    private static readonly IterationComposition SingleDecode = new([new SequenceWork(1, 333)]);

    private static IEnumerable<SelfTestResult> Model(TransformerEngine e, string name, IterationComposition comp)
    {
        List<SelfTestResult> results = new();
        try
        {
            e.Prepare(comp);
            var p = e.Current!;
            var m = e.Shard;
            int h = m.Hidden, d = m.HeadDim, hq = m.Heads, hk = m.KvHeads, q = m.QkvWidth, f = m.Ffn, v = m.VocabShard, t = p.Tokens;
            int pageSize = e.Options.PageSize;
            // Reference inputs: the weights, the ids and the cache as they are on the device.
            var ids = p.Ids.Download<int>(t);
            var table = p.BlockTable.Download<int>(p.Sequences * p.MaxPages);
            long cacheElems = p.LayerCacheBytes / 2;
            var kcache = Dl(p.KCache, cacheElems * m.Layers); var vcache = Dl(p.VCache, cacheElems * m.Layers);
            var emb = Dl(e.Embedding, (long)v * h); var lm = Dl(e.LmHead, (long)v * h); var fnw = Dl(e.FinalNorm, h);
            // Poison what the iteration must write, then run it through the graph.
            p.X.Fill16(NaN16); p.Logits.Fill16(NaN16); p.Attn.Fill16(NaN16); p.H.Fill16(NaN16);
            e.Enqueue(1);
            e.Synchronize();
            var gotX = p.X.Download<ushort>((long)t * h);
            var gotLogits = p.Logits.Download<ushort>((long)p.Sequences * v);

            var seqs = comp.Sequences;
            var start = new int[seqs.Count];
            for (int i = 1; i < seqs.Count; i++) start[i] = start[i - 1] + seqs[i - 1].NewTokens;
            var x = new double[(long)t * h];
            for (var i = 0; i < t; i++) Array.Copy(emb, (long)ids[i] * h, x, (long)i * h, h);
            double eps = m.Model.RmsEps;
            for (var l = 0; l < m.Layers; l++)
            {
                var w = e.Layers[l];
                var wqkv = Dl(w.Qkv, (long)q * h); var bias = w.QkvBias != null ? Dl(w.QkvBias, q) : new double[q];
                var wo = Dl(w.O, (long)h * hq * d); var wgu = Dl(w.GateUp, 2L * f * h); var wd = Dl(w.Down, (long)h * f);
                var n1 = Dl(w.AttnNorm, h); var n2 = Dl(w.MlpNorm, h);
                var hn = new double[(long)t * h];
                for (var i = 0; i < t; i++) { var r = RmsNormRef(x, i, h, n1, eps); for (var c = 0; c < h; c++) hn[(long)i * h + c] = R(r[c]); }
                var qkv = MatT(hn, wqkv, t, q, h);
                long lOff = l * cacheElems;
                for (var si = 0; si < seqs.Count; si++)
                    for (var j = 0; j < seqs[si].NewTokens; j++)
                    {
                        int tok = start[si] + j, pos = seqs[si].ContextBefore + j;
                        for (var c = 0; c < q; c++) qkv[(long)tok * q + c] = qkv[(long)tok * q + c] + bias[c];
                        for (var hh = 0; hh < hq + hk; hh++) RopeRef(qkv, tok * q + hh * d, d, pos, m.Model.RopeTheta);
                        for (var c = 0; c < q; c++) qkv[(long)tok * q + c] = R(qkv[(long)tok * q + c]);
                        long slot = (long)table[si * p.MaxPages + pos / pageSize] * pageSize + pos % pageSize;
                        for (var c = 0; c < hk * d; c++)
                        {
                            kcache[lOff + slot * hk * d + c] = qkv[(long)tok * q + hq * d + c];
                            vcache[lOff + slot * hk * d + c] = qkv[(long)tok * q + (hq + hk) * d + c];
                        }
                    }
                var attn = new double[(long)t * hq * d];
                for (var si = 0; si < seqs.Count; si++)
                {
                    int seq = si;
                    long Off(int pos, int kvh) => lOff + ((long)table[seq * p.MaxPages + pos / pageSize] * pageSize + pos % pageSize) * hk * d + kvh * d;
                    for (var j = 0; j < seqs[si].NewTokens; j++)
                        for (var hh = 0; hh < hq; hh++)
                        {
                            int kvh = hh / (hq / hk), tok = start[si] + j;
                            var o = AttendRef(qkv, tok * q + hh * d, (kk, c) => kcache[Off(kk, kvh) + c], (kk, c) => vcache[Off(kk, kvh) + c],
                                seqs[si].ContextBefore + j, d);
                            for (var c = 0; c < d; c++) attn[(long)tok * hq * d + hh * d + c] = R(o[c]);
                        }
                }
                var proj = MatT(attn, wo, t, h, hq * d, round: false);
                for (long i = 0; i < x.Length; i++) x[i] = R(x[i] + proj[i]);
                for (var i = 0; i < t; i++) { var r = RmsNormRef(x, i, h, n2, eps); for (var c = 0; c < h; c++) hn[(long)i * h + c] = R(r[c]); }
                var gu = MatT(hn, wgu, t, 2 * f, h);
                var act = new double[(long)t * f];
                for (var i = 0; i < t; i++)
                    for (var c = 0; c < f; c++) act[(long)i * f + c] = R(Silu(gu[(long)i * 2 * f + c]) * gu[(long)i * 2 * f + f + c]);
                var down = MatT(act, wd, t, h, f, round: false);
                for (long i = 0; i < x.Length; i++) x[i] = R(x[i] + down[i]);
            }
            var last = new double[(long)seqs.Count * h];
            for (var si = 0; si < seqs.Count; si++)
            {
                var r = RmsNormRef(x, start[si] + seqs[si].NewTokens - 1, h, fnw, eps);
                for (var c = 0; c < h; c++) last[(long)si * h + c] = R(r[c]);
            }
            var logits = MatT(last, lm, seqs.Count, v, h);
            results.Add(Compare(name + ": hidden states", gotX, x) with { Name = name + ": hidden states" });
            results.Add(Compare(name + ": logits", gotLogits, logits) with { Name = name + ": logits" });
            // Greedy sampling must agree with the logits the GPU produced.
            var tokens = e.NextTokens();
            int bad = 0;
            for (var si = 0; si < seqs.Count; si++)
            {
                int best = 0;
                for (var c = 1; c < v; c++) if (FromBf16(gotLogits[(long)si * v + c]) > FromBf16(gotLogits[(long)si * v + best])) best = c;
                if (best != tokens[si]) bad++;
            }
            results.Add(new SelfTestResult(name + ": greedy tokens", bad, 0, 0, seqs.Count));
        }
        catch (Exception ex)
        {
            results.Add(new SelfTestResult(name, double.NaN, Bf16Tolerance, 0, 0, ex.Message));
        }
        return results;
    }

    /// <summary>Y[t×n] = X[t×k]·W[n×k]ᵀ in float64, rounded to bf16 unless the caller adds it to something first.</summary>
    private static double[] MatT(double[] x, double[] w, int t, int n, int k, bool round = true)
    {
        var y = new double[(long)t * n];
        Parallel.For(0, t, i =>
        {
            for (var j = 0; j < n; j++)
            {
                double sum = 0;
                long xo = (long)i * k, wo = (long)j * k;
                for (var c = 0; c < k; c++) sum += x[xo + c] * w[wo + c];
                y[(long)i * n + j] = round ? R(sum) : sum;
            }
        });
        return y;
    }
}
