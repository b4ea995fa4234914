using Joules.Cuda;
using Joules.Profiles;

namespace Joules.Calibration.Engine;

/// <summary>Settings of the calibration engine.</summary>
public sealed record EngineOptions
{
    /// <summary>Tokens per KV-cache page.</summary>
    public int PageSize { get; init; } = EngineMath.DefaultPageSize;
    /// <summary>Replay each prepared iteration through a CUDA graph (one launch instead of hundreds).</summary>
    public bool UseGraphs { get; init; } = true;
    /// <summary>Seed of the random weights, cache contents and token ids.</summary>
    public uint Seed { get; init; } = 1234;
    /// <summary>CUDA device ordinal.</summary>
    public int Device { get; init; }
    /// <summary>Prefill attention with double-buffered cp.async K/V tiles (default) or the single-buffer kernel.</summary>
    public bool PipelinedPrefill { get; init; } = true;
    /// <summary>Prefill attention: cuDNN's fused flash attention where cuDNN loads, else Joules' kernel (auto, the default), or either one by name.</summary>
    /// <remarks>Auto since 2026-12-04: through cuDNN the 8B's 1x2048 prefill took 47.9 ms against 55.6 and its 1x32768 1200 ms
    /// against 2653 on the H200, and the shipped H200 profiles were measured that way (calibration/h200/README.md).</remarks>
    public PrefillAttention PrefillAttention { get; init; } = PrefillAttention.Auto;
    /// <summary>The prefill attention these options run on this machine (<see cref="PrefillAttentions.Resolve"/>).</summary>
    public PrefillAttention ResolvedPrefillAttention => PrefillAttentions.Resolve(PrefillAttention);
    /// <summary>Decode-attention kernel variant.</summary>
    /// <remarks>Tensor cores by default since 2026-12-03: on the H200 the same binary ran the 8B's decode step at b=64
    /// ctx=1024 in 8.12 ms against 9.57 through the CUDA-core work list, and the 70B tp8 shard's b=256 ctx=4096 in 24.5 ms
    /// against 53.7 (calibration/engine/README.md, "round 4").</remarks>
    public DecodeKernel DecodeKernel { get; init; } = DecodeKernel.TensorCore;
    /// <summary>Iterations of at most this many tokens run their projections through the streaming GEMV kernels with RMSNorm and SwiGLU fused in (0, the default: always cuBLASLt).</summary>
    /// <remarks>Off by default because it trades energy for speed: on the H200, batch-1 decode of the 8B took 5.08 ms and about
    /// 3.0 J through the GEMV path (two cards) against 5.28-5.35 ms and 2.25-2.61 J through cuBLASLt (four cards), and vLLM
    /// runs cuBLAS at batch 1, so cuBLASLt is both the cheaper and the more faithful default. At 2 to 4 tokens the GEMV's
    /// CUDA-core FMAs cost more than cuBLASLt's tensor cores save (b=2: 6.79 vs 5.40 ms).</remarks>
    public int GemvMaxTokens { get; init; }
    /// <summary>Work-list decode attention: most query heads one item serves (<see cref="DecodeWork.DefaultMaxGroup"/>; 8 runs a 70B shard's group of 8 as one item, as before 2026-12-03).</summary>
    public int DecodeMaxGroup { get; init; } = DecodeWork.DefaultMaxGroup;
    /// <summary>The heads work-list items are made of for <paramref name="model"/> under these options.</summary>
    public int DecodeItemHeads(ModelShard model) => DecodeKernel.ItemHeads(model.Heads, model.KvHeads, DecodeMaxGroup);
    /// <summary>Bytes kept free when deciding whether a composition fits.</summary>
    public long MemoryMarginBytes { get; init; } = 1L << 30;

    private string JoulesPrefill => PipelinedPrefill ? "joules flash-style, cp.async double-buffered" : "joules flash-style, single buffer";

    private static string CudnnVersionOrNone() => Cudnn.IsAvailable(out _) ? Cudnn.Version() : "(not loaded)";

    /// <summary>Profile metadata naming the attention kernels these options run (a profile says what measured it).</summary>
    public Dictionary<string, string> Provenance() => new()
    {
        ["engine.decode_attention"] = DecodeKernel switch
        {
            DecodeKernel.WorkList => $"joules work-list split-KV (paged, chunks of at most 1024 keys over all sequences, items of at most {DecodeMaxGroup} query heads)",
            DecodeKernel.TensorCore => "joules work-list split-KV on tensor cores (paged, chunks of at most 1024 keys over all sequences, each kv head's query heads in one mma tile)",
            DecodeKernel.SinglePass => "joules split-KV single-pass (split by the longest context)",
            _ => "joules split-KV two-pass",
        },
        ["engine.prefill_attention"] = ResolvedPrefillAttention == PrefillAttention.Cudnn
            ? $"cuDNN {CudnnVersionOrNone()} fused flash attention (ragged, padding and causal masks; chunks over a cache through its paged cache load)"
            : JoulesPrefill,
        ["engine.decode_graphs"] = UseGraphs ? "cuda graphs" : "eager",
        ["engine.kernels_sha256"] = EngineKernels.SourceSha256,
        ["engine.projections"] = Math.Min(GemvMaxTokens, EngineKernels.GemvMaxRows) is var n and > 0
            ? $"cuBLASLt; joules streaming GEMV with RMSNorm/SwiGLU fused for iterations of {(n == 1 ? "1 token" : $"up to {n} tokens")}"
            : "cuBLASLt",
    };
}

/// <summary>A part of an iteration that can be timed alone: the attention kernels, or the dense projections with the norms and SwiGLU they run with.</summary>
public enum IterationPart { Attention, Projections }

/// <summary>One GPU's part in a whole tensor-parallel instance: its rank, how the model is split, and the communicator its collectives go through.</summary>
internal sealed record TensorParallelRank(int Rank, TensorParallelLayout Layout, NcclCommunicator Comm);

/// <summary>A Llama-style decoder with random bf16 weights executing real iterations (any mix of prefill chunks and decodes) on the GPU; the calibration workload.</summary>
/// <remarks>
/// Built the public way it is one GPU's shard of a tp model, run alone (no communication): the shipped shard
/// profiles were measured so. Built by <see cref="TensorParallelEngine"/> it is one rank of a whole instance:
/// the row-parallel projections write partial sums that an NCCL all-reduce adds up, the embedding is looked up
/// by vocab slice and all-reduced, and the logits are all-gathered for greedy sampling on rank 0.
/// </remarks>
public sealed class TransformerEngine : IEngineInstance
{
    private const int Bf16 = 2;
    private readonly CudaContext _ctx;
    private readonly CudaStream _stream;
    private readonly CublasLtGemm _gemm;
    private readonly EngineKernels _k;
    private readonly DenseOps _dense;
    private readonly List<DeviceBuffer> _weights = new();
    private readonly LayerWeights[] _layers;
    private readonly DeviceBuffer _embedding, _lmHead, _finalNorm;
    private readonly TensorParallelRank? _rank;
    private readonly CudnnHandle? _cudnn;
    private Prepared? _p;

    internal sealed record LayerWeights(DeviceBuffer Qkv, DeviceBuffer? QkvBias, DeviceBuffer O, DeviceBuffer GateUp, DeviceBuffer Down,
        DeviceBuffer AttnNorm, DeviceBuffer MlpNorm);

    /// <summary>Builds the shard of <paramref name="model"/> for tensor-parallel degree <paramref name="tp"/> on one GPU and fills its weights with random values.</summary>
    public TransformerEngine(ModelCard model, int tp = 1, EngineOptions? options = null) : this(model, tp, options, rank: null) { }

    /// <summary>Builds rank <paramref name="rank"/> of a whole tensor-parallel instance on GPU <see cref="EngineOptions.Device"/>.</summary>
    internal TransformerEngine(ModelCard model, EngineOptions options, TensorParallelRank rank) : this(model, rank.Layout.Tp, options, rank) { }

    private TransformerEngine(ModelCard model, int tp, EngineOptions? options, TensorParallelRank? rank)
    {
        model.Validate();
        _rank = rank;
        if (model.Dtype != "bf16") throw new NotSupportedException($"the engine runs bf16 models; '{model.Name}' is {model.Dtype}");
        Options = options ?? new EngineOptions();
        Shard = model.Shard(tp);
        if (Shard.HeadDim is not (64 or 128)) throw new NotSupportedException($"head_dim {Shard.HeadDim} is not supported (64 or 128)");
        if (Shard.Heads / Shard.KvHeads > 8) throw new NotSupportedException($"{Shard.Heads / Shard.KvHeads} query heads per kv head (at most 8)");
        _ctx = new CudaContext(Options.Device);
        var (free, _) = _ctx.MemoryInfo();
        if (Shard.WeightBytesPerGpu + Options.MemoryMarginBytes > free)
            throw new InvalidOperationException($"{model.Name} tp={tp}: weights need {Shard.WeightBytesPerGpu / 1e9:F1} GB, only {free / 1e9:F1} GB free on {_ctx.Name}");
        _stream = new CudaStream();
        if (Options.ResolvedPrefillAttention == PrefillAttention.Cudnn)
        {
            if (!Cudnn.IsAvailable(out var noCudnn)) throw new InvalidOperationException($"--prefill-attention cudnn: {noCudnn}");
            _cudnn = new CudnnHandle(_stream);
            // Auto: a cuDNN that loads but cannot build this shard's graphs (a version without paged cache loads, a GPU or
            // head size its fused attention lacks) leaves prefill attention to Joules' kernel, which the provenance then
            // names, rather than failing at the first chunk over a cache mid-calibration.
            if (Options.PrefillAttention == PrefillAttention.Auto
                && CudnnPrefillAttention.Probe(_cudnn, Shard.Heads, Shard.KvHeads, Shard.HeadDim, Options.PageSize) is { } why)
            {
                _cudnn.Dispose();
                _cudnn = null;
                Options = Options with { PrefillAttention = PrefillAttention.Joules };
                CudnnFallback = why;
            }
        }
        _gemm = new CublasLtGemm();
        _k = new EngineKernels(_ctx);
        _dense = new DenseOps(_k, _gemm, Options.GemvMaxTokens);

        int h = Shard.Hidden, q = Shard.QkvWidth, a = Shard.Heads * Shard.HeadDim, f = Shard.Ffn;
        uint seed = Options.Seed;
        DeviceBuffer W(long n, float scale, float offset = 0f)
        {
            var b = new DeviceBuffer(n * Bf16);
            _weights.Add(b);
            _k.FillUniform(_stream, b.Ptr, n, seed++, scale, offset);
            return b;
        }
        // Uniform(-s, s) with s = 1/sqrt(fan_in) keeps activations O(1) through many layers, like a real model's.
        // A rank of a whole instance scales its row-parallel slices by the full fan-in, so the summed projections
        // have the statistics of the unsplit model's.
        int oFanIn = rank is null ? a : model.Heads * model.HeadDim, downFanIn = rank is null ? f : model.Ffn;
        _layers = new LayerWeights[Shard.Layers];
        for (var l = 0; l < Shard.Layers; l++)
            _layers[l] = new LayerWeights(
                W((long)q * h, 1f / MathF.Sqrt(h)), model.QkvBias ? W(q, 0.1f) : null, W((long)h * a, 1f / MathF.Sqrt(oFanIn)),
                W(2L * f * h, 1f / MathF.Sqrt(h)), W((long)h * f, 1f / MathF.Sqrt(downFanIn)), W(h, 0.1f, 1f), W(h, 0.1f, 1f));
        if (rank is null) _embedding = W((long)Shard.VocabShard * h, 1f);
        else
        {
            // One row past the vocab slice stays zero: ids another rank holds look it up, so the all-reduce adds nothing for them.
            _embedding = W((long)(Shard.VocabShard + 1) * h, 1f);
            var valid = rank.Layout.Vocab(rank.Rank).Count;
            // The fill runs on a non-blocking stream and the memset on the legacy one: order them explicitly.
            _stream.Synchronize();
            Cu.Check(CuNative.cuMemsetD16_v2(_embedding.At((long)valid * h * Bf16), 0, (nuint)((long)(Shard.VocabShard + 1 - valid) * h)), "cuMemsetD16");
            _ctx.Synchronize();
        }
        _lmHead = W((long)Shard.VocabShard * h, 1f / MathF.Sqrt(h));
        _finalNorm = W(h, 0.1f, 1f);
        _stream.Synchronize();
    }

    public EngineOptions Options { get; }
    /// <summary>Why prefill attention runs Joules' kernel although cuDNN loads (auto, when cuDNN could not build this shard's graphs); null otherwise.</summary>
    public string? CudnnFallback { get; }
    /// <summary>The cuDNN handle prefill attention runs through (on the engine's stream), or null when it runs Joules' kernel.</summary>
    internal CudnnHandle? CudnnHandle => _cudnn;
    public ModelShard Shard { get; }
    public int Gpus => 1;
    public bool WholeInstance => false;
    public IReadOnlyList<EngineDevice> Devices => [new EngineDevice(_ctx, _stream)];
    /// <summary>This engine's place in a whole instance, or null for a shard run alone.</summary>
    internal TensorParallelRank? Rank => _rank;
    public CudaContext Context => _ctx;
    public CudaStream Stream => _stream;
    public string DeviceName => _ctx.Name;
    internal EngineKernels Kernels => _k;
    internal CublasLtGemm Gemm => _gemm;
    internal DenseOps Dense => _dense;
    internal IReadOnlyList<LayerWeights> Layers => _layers;
    internal DeviceBuffer Embedding => _embedding;
    internal DeviceBuffer LmHead => _lmHead;
    internal DeviceBuffer FinalNorm => _finalNorm;
    internal Prepared? Current => _p;
    public IterationComposition? Composition => _p?.Composition;
    /// <summary>Whether the prepared composition replays through a CUDA graph.</summary>
    public bool UsesGraph => _p?.Graph != null;

    /// <summary>Bytes the composition needs beyond the weights: KV pages, activations, attention partials, logits.</summary>
    public long BytesNeeded(IterationComposition c)
    {
        long t = c.Sequences.Sum(s => (long)s.NewTokens), n = c.Sequences.Count;
        long kv = EngineMath.Pages(c, Options.PageSize) * EngineMath.PageBytes(Shard, Options.PageSize);
        long act = t * (2L * Shard.Hidden + Shard.QkvWidth + Shard.Heads * Shard.HeadDim + 3L * Shard.Ffn) * Bf16;
        int maxKv = c.Sequences.Where(EngineMath.IsDecode).Select(s => s.ContextBefore + 1).DefaultIfEmpty(0).Max();
        int decodes = c.Sequences.Count(EngineMath.IsDecode);
        var (splits, _) = EngineMath.DecodeSplits(decodes, Shard.KvHeads, maxKv, _ctx.MultiprocessorCount);
        long partRows = Options.DecodeKernel.UsesWorkList()
            ? (long)DecodeWork.MaxChunks(Math.Max(1, decodes), Options.DecodeItemHeads(Shard), _ctx.MultiprocessorCount, c.Sequences.Where(EngineMath.IsDecode).Sum(s => (long)s.ContextBefore + 1)) * Shard.Heads
            : n * Shard.Heads * (long)splits;
        long part = partRows * (Shard.HeadDim + 2) * 4;
        long logits = n * ((long)Shard.VocabShard + Shard.Hidden) * Bf16 + (_rank is null ? 0 : n * (long)Shard.VocabShard * Shard.Tp * Bf16);
        return kv + act + part + logits + t * 64;
    }

    public bool Fits(IterationComposition composition, out string? reason)
    {
        if (composition.Sequences.Count == 0) { reason = "empty composition"; return false; }
        if (composition.Sequences.Any(s => s.NewTokens < 1 || s.ContextBefore < 0)) { reason = "every sequence needs at least one new token"; return false; }
        _ctx.MakeCurrent();
        var (free, _) = _ctx.MemoryInfo();
        long held = _p?.Bytes ?? 0;
        long need = BytesNeeded(composition) + Options.MemoryMarginBytes;
        if (need > free + held)
        {
            reason = $"needs {need / 1e9:F2} GB beyond the weights, {(free + held) / 1e9:F2} GB available";
            return false;
        }
        reason = null;
        return true;
    }

    public void Prepare(IterationComposition composition)
    {
        _ctx.MakeCurrent();
        if (!Fits(composition, out var why)) throw new InvalidOperationException($"composition does not fit: {why}");
        _p?.Dispose();
        _p = null;
        _p = new Prepared(this, composition);
        RunIteration();          // eager pass: plans cuBLASLt algorithms outside capture and checks every launch
        _stream.Synchronize();
        if (Options.UseGraphs)
        {
            _stream.BeginCapture();
            try { RunIteration(); }
            catch
            {
                try { _stream.EndCapture().Dispose(); } catch (CudaException) { }
                throw;
            }
            _p.Graph = _stream.EndCapture();
            _p.Graph.Launch(_stream);
            _stream.Synchronize();
        }
    }

    public void Enqueue(int iterations)
    {
        var p = _p ?? throw new InvalidOperationException("Prepare a composition before enqueuing iterations");
        _ctx.MakeCurrent();
        for (var i = 0; i < iterations; i++)
        {
            if (p.Graph != null) p.Graph.Launch(_stream);
            else RunIteration();
        }
    }

    public void Synchronize()
    {
        _ctx.MakeCurrent();
        _stream.Synchronize();
    }

    /// <summary>Enqueues one forward pass of the prepared composition (no graph).</summary>
    internal void RunIteration()
    {
        var p = _p!;
        var s = _stream;
        var m = Shard;
        int h = m.Hidden, t = p.Tokens;
        var comm = _rank?.Comm;
        // In a whole instance only rank 0 adds the residual; the others write bare partial sums, so the all-reduce
        // of X gives residual + the sum of every rank's partial projection.
        bool residual = _rank is null || _rank.Rank == 0;
        _k.Embed(s, p.Ids.Ptr, _embedding.Ptr, p.X.Ptr, t, h);
        comm?.AllReduceSumBf16(p.X.Ptr, p.X.Ptr, (long)t * h, s);
        for (var l = 0; l < m.Layers; l++)
        {
            var w = _layers[l];
            ulong kc = p.KCache.At(l * p.LayerCacheBytes), vc = p.VCache.At(l * p.LayerCacheBytes);
            QkvProjection(s, p, w);
            _k.QkvRopeCache(s, p.Qkv.Ptr, w.QkvBias?.Ptr ?? 0, p.TokPos.Ptr, p.TokSlot.Ptr, kc, vc, t, m.Heads, m.KvHeads, m.HeadDim, m.Model.RopeTheta);
            Attention(s, p, kc, vc);
            OutputProjection(s, p, w, residual);
            comm?.AllReduceSumBf16(p.X.Ptr, p.X.Ptr, (long)t * h, s);
            Mlp(s, p, w, residual);
            comm?.AllReduceSumBf16(p.X.Ptr, p.X.Ptr, (long)t * h, s);
        }
        LogitsProjection(s, p);
        if (comm is null)
        {
            _k.Argmax(s, p.Logits.Ptr, p.Sequences, m.VocabShard, p.NextTokens.Ptr);
            return;
        }
        // Every rank's vocab slice of the logits, gathered rank-major; rank 0 samples from the whole vocabulary.
        comm.AllGatherBf16(p.Logits.Ptr, p.Gathered!.Ptr, (long)p.Sequences * m.VocabShard, s);
        if (_rank!.Rank == 0) _k.ArgmaxGathered(s, p.Gathered.Ptr, p.Sequences, m.VocabShard, m.Tp, m.Model.Vocab, p.NextTokens.Ptr);
    }

    // The dense parts of a layer, shared by the iteration and by the projections captured alone (CapturePart).
    private void QkvProjection(CudaStream s, Prepared p, LayerWeights w) =>
        _dense.NormProject(s, p.X.Ptr, 0, w.AttnNorm.Ptr, (float)Shard.Model.RmsEps, p.H.Ptr, w.Qkv.Ptr, p.Qkv.Ptr, p.Tokens, Shard.QkvWidth, Shard.Hidden);

    private void OutputProjection(CudaStream s, Prepared p, LayerWeights w, bool residual) =>
        _dense.Project(s, p.Attn.Ptr, w.O.Ptr, p.X.Ptr, p.Tokens, Shard.Hidden, Shard.Heads * Shard.HeadDim, accumulate: residual);

    private void Mlp(CudaStream s, Prepared p, LayerWeights w, bool residual)
    {
        _dense.NormProject(s, p.X.Ptr, 0, w.MlpNorm.Ptr, (float)Shard.Model.RmsEps, p.H.Ptr, w.GateUp.Ptr, p.GateUp.Ptr, p.Tokens, 2 * Shard.Ffn, Shard.Hidden);
        _dense.SwiGluProject(s, p.GateUp.Ptr, p.Act.Ptr, w.Down.Ptr, p.X.Ptr, p.Tokens, Shard.Hidden, Shard.Ffn, accumulate: residual);
    }

    // Serving engines compute logits only for each sequence's last token.
    private void LogitsProjection(CudaStream s, Prepared p) =>
        _dense.NormProject(s, p.X.Ptr, p.LastRows.Ptr, _finalNorm.Ptr, (float)Shard.Model.RmsEps, p.LastH.Ptr, _lmHead.Ptr, p.Logits.Ptr, p.Sequences, Shard.VocabShard, Shard.Hidden);

    /// <summary>Enqueues the attention kernels (prefill and decode) of the prepared iteration for one layer's cache.</summary>
    private void Attention(CudaStream s, Prepared p, ulong kc, ulong vc)
    {
        var m = Shard;
        p.CudnnPrefill?.Enqueue();
        p.CudnnChunks?.Enqueue(kc, vc);
        if (p.TileCount > 0)
            _k.PrefillAttention(s, m.HeadDim, p.Qkv.Ptr, kc, vc, p.BlockTable.Ptr, p.MaxPages, Options.PageSize, p.Tiles.Ptr, p.TileCount,
                p.SeqStart.Ptr, p.SeqNew.Ptr, p.SeqCtx.Ptr, p.Attn.Ptr, m.Heads, m.KvHeads, Options.PipelinedPrefill);
        if (p.DecodeCount > 0 && p.Work is { } work)
            _k.DecodeAttentionWorkList(s, m.HeadDim, p.Qkv.Ptr, kc, vc, p.BlockTable.Ptr, p.MaxPages, Options.PageSize, p.DecodeSeqs.Ptr, p.DecodeCount,
                p.SeqStart.Ptr, p.SeqCtx.Ptr, work.Ptr, _ctx.MultiprocessorCount, p.PartO.Ptr, p.PartMl.Ptr, p.Attn.Ptr, m.Heads, m.KvHeads, Options.DecodeItemHeads(m),
                Options.DecodeKernel);
        else if (p.DecodeCount > 0)
            _k.DecodeAttention(s, m.HeadDim, p.Qkv.Ptr, kc, vc, p.BlockTable.Ptr, p.MaxPages, Options.PageSize, p.DecodeSeqs.Ptr, p.DecodeCount,
                p.SeqStart.Ptr, p.SeqCtx.Ptr, p.PartO.Ptr, p.PartMl.Ptr, p.Splits, p.Chunk, p.Attn.Ptr, m.Heads, m.KvHeads, Options.DecodeKernel);
    }

    /// <summary>
    /// Captures one part of the prepared iteration, every layer's share of it, into a CUDA graph (for timing the parts
    /// alone): the attention kernels over each layer's cache, or the dense projections (norms and SwiGLU as the
    /// iteration runs them, and the LM head). The engine must run alone (no tensor-parallel collectives).
    /// </summary>
    internal CudaGraph CapturePart(IterationPart part)
    {
        var p = _p ?? throw new InvalidOperationException("Prepare a composition before capturing a part of it");
        if (_rank is not null) throw new InvalidOperationException("parts are timed on a shard run alone, not on a rank of a whole instance");
        _ctx.MakeCurrent();
        var s = _stream;
        var m = Shard;
        s.BeginCapture();
        try
        {
            for (var l = 0; l < m.Layers; l++)
            {
                var w = _layers[l];
                if (part == IterationPart.Attention) { Attention(s, p, p.KCache.At(l * p.LayerCacheBytes), p.VCache.At(l * p.LayerCacheBytes)); continue; }
                QkvProjection(s, p, w);
                OutputProjection(s, p, w, residual: true);
                Mlp(s, p, w, residual: true);
            }
            if (part == IterationPart.Projections)
                LogitsProjection(s, p);
        }
        catch
        {
            try { s.EndCapture().Dispose(); } catch (CudaException) { }
            throw;
        }
        return s.EndCapture();
    }

    /// <summary>Greedy next tokens of the last executed iteration, one per sequence (in a whole instance: rank 0's).</summary>
    public int[] NextTokens()
    {
        var p = _p ?? throw new InvalidOperationException("nothing prepared");
        if (_rank is { Rank: > 0 }) throw new InvalidOperationException("only rank 0 of a tensor-parallel instance samples tokens");
        Synchronize();
        return p.NextTokens.Download<int>(p.Sequences);
    }

    /// <summary>Frees the prepared composition (its buffers and graph) and waits for the GPU to finish with them.</summary>
    internal void ReleasePrepared()
    {
        _ctx.MakeCurrent();
        _p?.Dispose();
        _p = null;
        _ctx.Synchronize();
    }

    public void Dispose()
    {
        _ctx.MakeCurrent();
        _p?.Dispose();
        _p = null;
        foreach (var b in _weights) b.Dispose();
        _weights.Clear();
        _k.Dispose();
        _gemm.Dispose();
        _cudnn?.Dispose();
        _stream.Dispose();
        _ctx.Dispose();
    }

    /// <summary>Buffers, metadata and graph of one prepared composition.</summary>
    internal sealed class Prepared : IDisposable
    {
        private readonly List<DeviceBuffer> _all = new();

        public Prepared(TransformerEngine e, IterationComposition c)
        {
            Composition = c;
            var m = e.Shard;
            int pageSize = e.Options.PageSize;
            var seqs = c.Sequences;
            Sequences = seqs.Count;
            Tokens = seqs.Sum(x => x.NewTokens);
            MaxPages = seqs.Max(x => EngineMath.PagesFor(x.ContextBefore + x.NewTokens, pageSize));
            TotalPages = (int)EngineMath.Pages(c, pageSize);
            // Physical pages are handed out in a shuffled order, as a paged allocator's free list looks after some churn.
            var order = Enumerable.Range(0, TotalPages).ToArray();
            new Random((int)e.Options.Seed).Shuffle(order);
            var blockTable = new int[Sequences * MaxPages];
            var seqStart = new int[Sequences]; var seqNew = new int[Sequences]; var seqCtx = new int[Sequences];
            var tokPos = new int[Tokens]; var tokSlot = new int[Tokens]; var lastRows = new int[Sequences];
            var tiles = new List<int>(); var dseq = new List<int>(); var fresh = new List<int>(); var chunks = new List<int>();
            int next = 0, tok = 0;
            for (var i = 0; i < Sequences; i++)
            {
                var w = seqs[i];
                int pages = EngineMath.PagesFor(w.ContextBefore + w.NewTokens, pageSize);
                for (var j = 0; j < pages; j++) blockTable[i * MaxPages + j] = order[next++];
                seqStart[i] = tok; seqNew[i] = w.NewTokens; seqCtx[i] = w.ContextBefore;
                for (var j = 0; j < w.NewTokens; j++)
                {
                    int pos = w.ContextBefore + j;
                    tokPos[tok + j] = pos;
                    tokSlot[tok + j] = blockTable[i * MaxPages + pos / pageSize] * pageSize + pos % pageSize;
                }
                tok += w.NewTokens;
                lastRows[i] = tok - 1;
                if (EngineMath.IsDecode(w)) dseq.Add(i);
                else if (e._cudnn is not null) (w.ContextBefore == 0 ? fresh : chunks).Add(i);
                else for (var q0 = 0; q0 < w.NewTokens; q0 += 64) { tiles.Add(i); tiles.Add(q0); }
            }
            TileCount = tiles.Count / 2;
            DecodeCount = dseq.Count;
            int maxKv = dseq.Count == 0 ? 0 : dseq.Max(i => seqCtx[i] + 1);
            (Splits, Chunk) = EngineMath.DecodeSplits(DecodeCount, m.KvHeads, maxKv, e._ctx.MultiprocessorCount);

            int h = m.Hidden, a = m.Heads * m.HeadDim;
            X = Alloc((long)Tokens * h * Bf16);
            H = Alloc((long)Tokens * h * Bf16);
            Qkv = Alloc((long)Tokens * m.QkvWidth * Bf16);
            Attn = Alloc((long)Tokens * a * Bf16);
            GateUp = Alloc((long)Tokens * 2 * m.Ffn * Bf16);
            Act = Alloc((long)Tokens * m.Ffn * Bf16);
            LastH = Alloc((long)Sequences * h * Bf16);
            Logits = Alloc((long)Sequences * m.VocabShard * Bf16);
            NextTokens = Alloc(Sequences * 4L);
            // The work list's partials are exactly its chunks (per head); the other kernels' are sequences x splits.
            int[]? work = null;
            if (e.Options.DecodeKernel.UsesWorkList() && DecodeCount > 0)
            {
                work = new int[DecodeWork.TableLength(DecodeCount)];
                DecodeWork.Fill(dseq.Select(i => seqCtx[i] + 1).ToArray(), e.Options.DecodeItemHeads(m), e._ctx.MultiprocessorCount, work);
            }
            long partRows = work is not null ? (long)work[0] * m.Heads : (long)Math.Max(1, DecodeCount) * m.Heads * Splits;
            PartO = Alloc(partRows * m.HeadDim * 4);
            PartMl = Alloc(partRows * 2 * 4);
            LayerCacheBytes = (long)TotalPages * pageSize * m.KvHeads * m.HeadDim * Bf16;
            KCache = Alloc(LayerCacheBytes * m.Layers);
            VCache = Alloc(LayerCacheBytes * m.Layers);
            var rnd = new Random((int)e.Options.Seed + 7);
            var ids = new int[Tokens];
            if (e._rank is { } rank)
            {
                // Ids over the whole vocabulary, each rank looking up its own slice (the others hit the zero row).
                Gathered = Alloc((long)Sequences * m.VocabShard * m.Tp * Bf16);
                for (var i = 0; i < Tokens; i++) ids[i] = rank.Layout.LocalEmbeddingRow(rank.Rank, rnd.Next(m.Model.Vocab));
            }
            else
                for (var i = 0; i < Tokens; i++) ids[i] = rnd.Next(m.VocabShard);
            Ids = Upload(ids); TokPos = Upload(tokPos); TokSlot = Upload(tokSlot); LastRows = Upload(lastRows);
            SeqStart = Upload(seqStart); SeqNew = Upload(seqNew); SeqCtx = Upload(seqCtx); BlockTable = Upload(blockTable);
            Tiles = Upload(tiles.ToArray()); DecodeSeqs = Upload(dseq.ToArray());
            if (work is not null) Work = Upload(work);
            if (fresh.Count > 0)
                CudnnPrefill = new CudnnPrefillAttention(e._cudnn!, Qkv.Ptr, Attn.Ptr, m.Heads, m.KvHeads, m.HeadDim,
                    fresh.Select(i => seqStart[i]).ToArray(), fresh.Select(i => seqNew[i]).ToArray());
            if (chunks.Count > 0)
            {
                CudnnChunks = new CudnnPrefillAttention(e._cudnn!, Qkv.Ptr, Attn.Ptr, m.Heads, m.KvHeads, m.HeadDim,
                    chunks.Select(i => seqStart[i]).ToArray(), chunks.Select(i => seqNew[i]).ToArray(),
                    PagedKv.ForChunks(blockTable, MaxPages, chunks, seqCtx, seqNew, TotalPages, pageSize));
            }
            // The cached context holds random keys and values (never zeros, which would make attention trivially uniform).
            e._k.FillUniform(e._stream, KCache.Ptr, KCache.Bytes / 2, e.Options.Seed + 101, 1f);
            e._k.FillUniform(e._stream, VCache.Ptr, VCache.Bytes / 2, e.Options.Seed + 202, 1f);
            e._stream.Synchronize();
        }

        private DeviceBuffer Alloc(long bytes)
        {
            var b = new DeviceBuffer(bytes);
            _all.Add(b);
            Bytes += b.Bytes;
            return b;
        }

        private DeviceBuffer Upload(int[] data)
        {
            var b = Alloc(Math.Max(1, data.Length) * 4L);
            if (data.Length > 0) b.Upload<int>(data);
            return b;
        }

        public IterationComposition Composition { get; }
        public long Bytes { get; private set; }
        public int Sequences { get; }
        public int Tokens { get; }
        public int MaxPages { get; }
        public int TotalPages { get; }
        public int TileCount { get; }
        public int DecodeCount { get; }
        public int Splits { get; }
        public int Chunk { get; }
        public long LayerCacheBytes { get; }
        public DeviceBuffer X { get; }
        public DeviceBuffer H { get; }
        public DeviceBuffer Qkv { get; }
        public DeviceBuffer Attn { get; }
        public DeviceBuffer GateUp { get; }
        public DeviceBuffer Act { get; }
        public DeviceBuffer LastH { get; }
        public DeviceBuffer Logits { get; }
        /// <summary>Whole instance only: every rank's logits, rank-major [rank][sequence][vocab shard].</summary>
        public DeviceBuffer? Gathered { get; }
        public DeviceBuffer NextTokens { get; }
        public DeviceBuffer PartO { get; }
        public DeviceBuffer PartMl { get; }
        public DeviceBuffer KCache { get; }
        public DeviceBuffer VCache { get; }
        public DeviceBuffer Ids { get; }
        public DeviceBuffer TokPos { get; }
        public DeviceBuffer TokSlot { get; }
        public DeviceBuffer LastRows { get; }
        public DeviceBuffer SeqStart { get; }
        public DeviceBuffer SeqNew { get; }
        public DeviceBuffer SeqCtx { get; }
        public DeviceBuffer BlockTable { get; }
        public DeviceBuffer Tiles { get; }
        public DeviceBuffer DecodeSeqs { get; }
        /// <summary>cuDNN's attention over the fresh prompts (null unless the engine runs prefill attention through cuDNN and the iteration has some).</summary>
        public CudnnPrefillAttention? CudnnPrefill { get; }
        /// <summary>cuDNN's attention over the chunks with a cached context, keys and values read from the paged cache (null likewise).</summary>
        public CudnnPrefillAttention? CudnnChunks { get; }
        /// <summary>Work-list decode attention's chunk table (null for the other kernels or without decodes).</summary>
        public DeviceBuffer? Work { get; }
        public CudaGraph? Graph { get; set; }

        public void Dispose()
        {
            Graph?.Dispose();
            CudnnPrefill?.Dispose();
            CudnnChunks?.Dispose();
            foreach (var b in _all) b.Dispose();
            _all.Clear();
        }
    }
}
