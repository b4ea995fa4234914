using Joules.Cuda;
using Joules.Profiles;

namespace Joules.Calibration.Engine;

/// <summary>Settings of the serving engine (the calibration engine driven iteration by iteration by a scheduler).</summary>
public sealed record ServingEngineOptions
{
    /// <summary>CUDA device ordinal.</summary>
    public int Device { get; init; }
    /// <summary>Seed of the random weights.</summary>
    public uint Seed { get; init; } = 1234;
    /// <summary>Tokens per KV block (the scheduler's block size).</summary>
    public int BlockSize { get; init; } = EngineMath.DefaultPageSize;
    /// <summary>Most new tokens of one iteration (max-num-batched-tokens): sizes the activation buffers.</summary>
    public int MaxBatchedTokens { get; init; } = 8192;
    /// <summary>Most sequences of one iteration (max-num-seqs).</summary>
    public int MaxSequences { get; init; } = 1024;
    /// <summary>Longest sequence (max-model-len): sizes the block-table rows.</summary>
    public int MaxModelLen { get; init; } = 131072;
    /// <summary>KV blocks wanted; fewer are allocated when they do not fit (see <see cref="ServingEngine.KvBlocks"/>).</summary>
    public int KvBlocks { get; init; }
    /// <summary>Bytes left free on the device after the KV pool (CUDA graphs, cuBLASLt, growth of the attention partials).</summary>
    public long MemoryMarginBytes { get; init; } = 3L << 30;
    /// <summary>Replay decode-only iterations through CUDA graphs, as the calibration measured them.</summary>
    public bool UseGraphs { get; init; } = true;
    /// <summary>Most CUDA graphs kept (least recently used ones are dropped).</summary>
    public int GraphCacheSize { get; init; } = 512;
    /// <summary>Decode-attention kernel (the calibration engine's default unless a profile measured by another is to be validated).</summary>
    public DecodeKernel DecodeKernel { get; init; } = new EngineOptions().DecodeKernel;
    /// <summary>Prefill attention: Joules' kernel, or cuDNN's fused attention through plans bucketed by chunk count, length and pages (auto: cuDNN where it loads and plans).</summary>
    /// <remarks>Joules' kernel by default until the bucketed cuDNN plans have been checked and validated on a GPU (the
    /// shipped profiles measured cuDNN: `joules validate` warns that the kernels differ).</remarks>
    public PrefillAttention PrefillAttention { get; init; } = PrefillAttention.Joules;
    /// <summary>Most cuDNN prefill plans kept (least recently used ones are dropped; at least 2, an iteration's fresh prompts and chunks over a cache).</summary>
    public int PrefillPlanCacheSize { get; init; } = 256;
}

/// <summary>How one iteration ran on the GPU.</summary>
/// <param name="DeviceSeconds">Time between events recorded before the first and after the last kernel.</param>
/// <param name="Graph">Whether it replayed a CUDA graph.</param>
/// <param name="Captured">Whether it ran eagerly and captured a new graph for its shape.</param>
/// <param name="PlansBuilt">cuDNN prefill plans built for it (host work before its kernels, not in <paramref name="DeviceSeconds"/>).</param>
public readonly record struct ServingStepTiming(double DeviceSeconds, bool Graph, bool Captured, int PlansBuilt = 0);

/// <summary>
/// The calibration transformer (random weights at the real shapes, the same kernels) as a serving engine: a persistent
/// paged KV pool sized from GPU memory whose page ids are the scheduler's block ids, one forward pass per iteration
/// over any mix of prefill chunks (over cached context) and decodes, greedy sampling on the GPU and the sampled
/// tokens copied back each iteration.
/// </summary>
/// <remarks>
/// Decode-only iterations replay CUDA graphs, as the calibration grid was measured; a graph is keyed by the batch size
/// and the block-table stride (the longest sequence's pages rounded up to a bucket of <see cref="StrideBucket"/>): the
/// work-list decode attention reads how it splits the keys from device memory, so the contexts themselves do not
/// enter the key. A graph is captured on a side stream while the same iteration runs eagerly, so capturing costs no
/// GPU time. Iterations with prefill chunks run eagerly (they are long enough for launches to hide behind
/// the kernels). The layer sequence is <see cref="TransformerEngine"/>'s (tp = 1, no communication), launch for launch.
/// </remarks>
public sealed class ServingEngine : IDisposable
{
    /// <summary>Smallest block-table stride (pages) of a graph: contexts up to 128 tokens at 16-token blocks.</summary>
    public const int ContextBucket = 128;
    private const int Bf16 = 2;

    private readonly TransformerEngine _engine;
    private readonly CudaContext _ctx;
    private readonly CudaStream _stream;
    private readonly CudaStream _capture;
    private readonly EngineKernels _k;
    private readonly DenseOps _dense;
    private readonly ModelShard _m;
    private readonly int _ps;
    private readonly int _maxTokens, _maxSeqs, _maxStride, _maxTiles;
    private readonly List<DeviceBuffer> _buffers = new();
    private readonly DeviceBuffer _x, _h, _qkv, _attn, _gateUp, _act, _lastH, _logits, _next, _meta, _kCache, _vCache;
    private readonly DeviceBuffer _partO, _partMl;
    private readonly int[] _kvLens;
    private readonly long _layerCacheBytes;
    private readonly int[] _host;
    private readonly int _offIds, _offPos, _offSlot, _offLast, _offStart, _offNew, _offCtx, _offDseq, _offWork, _offTiles, _offBt;
    private readonly CudaEvent _evStart, _evEnd;
    private readonly LruCache<(int Batch, int Stride), CudaGraph> _graphs;
    private readonly CudnnPrefillPlans? _plans;
    private readonly List<int> _fresh = new(), _chunks = new();
    private CudnnPrefillAttention? _freshPlan, _chunkPlan;

    public ServingEngine(ModelCard model, ServingEngineOptions? options = null)
    {
        Options = options ?? new ServingEngineOptions();
        if (Options.MaxSequences > Options.MaxBatchedTokens)
            throw new ArgumentException($"max-num-seqs ({Options.MaxSequences}) must not exceed max-num-batched-tokens ({Options.MaxBatchedTokens})");
        _engine = new TransformerEngine(model, 1, new EngineOptions
        {
            Device = Options.Device, Seed = Options.Seed, PageSize = Options.BlockSize, DecodeKernel = Options.DecodeKernel,
            // cuDNN's plans are compiled per shape and a serving iteration's chunks change every step: the engine keeps
            // plans per bucket (CudnnPrefillPlans) and sets the chunks' lengths, rows and page tables as device data.
            PrefillAttention = Options.PrefillAttention,
        });
        _graphs = new LruCache<(int, int), CudaGraph>(Math.Max(1, Options.GraphCacheSize));
        try
        {
            _ctx = _engine.Context;
            _stream = _engine.Stream;
            _k = _engine.Kernels;
            _dense = _engine.Dense;
            _m = _engine.Shard;
            _ps = Options.BlockSize;
            _capture = new CudaStream();
            _evStart = new CudaEvent();
            _evEnd = new CudaEvent();
            _maxTokens = Options.MaxBatchedTokens;
            _maxSeqs = Options.MaxSequences;
            _maxStride = RoundUp(EngineMath.PagesFor(Options.MaxModelLen, _ps), Math.Max(1, ContextBucket / _ps));
            _maxTiles = _maxTokens / 64 + _maxSeqs;
            int h = _m.Hidden, q = _m.QkvWidth, a = _m.Heads * _m.HeadDim, f = _m.Ffn;
            long t = _maxTokens, s = _maxSeqs;
            _x = Alloc(t * h * Bf16);
            _h = Alloc(t * h * Bf16);
            _qkv = Alloc(t * q * Bf16);
            _attn = Alloc(t * a * Bf16);
            _gateUp = Alloc(t * 2 * f * Bf16);
            _act = Alloc(t * f * Bf16);
            _lastH = Alloc(s * h * Bf16);
            _logits = Alloc(s * _m.VocabShard * Bf16);
            _next = Alloc(s * 4);
            // One int array holds every per-iteration table at fixed offsets, so graphs captured once stay valid.
            var off = 0;
            int Region(long n) { var o = off; off += (int)RoundUp(n, 64); return o; }
            _offIds = Region(t); _offPos = Region(t); _offSlot = Region(t);
            _offLast = Region(s); _offStart = Region(s); _offNew = Region(s); _offCtx = Region(s); _offDseq = Region(s);
            _offWork = Region(DecodeWork.TableLength(_maxSeqs));
            _offTiles = Region(2L * _maxTiles);
            _offBt = Region(s * _maxStride);
            _host = new int[off];
            _meta = Alloc(off * 4L);
            _kvLens = new int[_maxSeqs];

            var blockBytes = EngineMath.PageBytes(_m, _ps);
            _ctx.MakeCurrent();
            var (free, _) = _ctx.MemoryInfo();
            var fit = (free - Options.MemoryMarginBytes) / blockBytes;
            if (fit < 1) throw new InvalidOperationException($"{model.Name}: no room for a KV cache on {_ctx.Name} ({free / 1e9:F1} GB free after the weights and buffers)");
            KvBlocks = (int)Math.Min(Options.KvBlocks > 0 ? Options.KvBlocks : int.MaxValue, Math.Min(fit, int.MaxValue));
            _layerCacheBytes = (long)KvBlocks * _ps * _m.KvHeads * _m.HeadDim * Bf16;
            _kCache = Alloc(_layerCacheBytes * _m.Layers);
            _vCache = Alloc(_layerCacheBytes * _m.Layers);
            // Sized once for the largest batch over the whole pool (a few MB, inside the memory margin): the work list
            // never needs more rows, so graphs never see them move.
            var rows = (long)DecodeWork.MaxChunks(_maxSeqs, _engine.Options.DecodeItemHeads(_m), _ctx.MultiprocessorCount, (long)KvBlocks * _ps) * _m.Heads;
            _partO = Alloc(rows * _m.HeadDim * 4);
            _partMl = Alloc(rows * 2 * 4);
            if (_engine.CudnnHandle is { } cudnn)
                _plans = new CudnnPrefillPlans(cudnn, _qkv.Ptr, _attn.Ptr, _m.Heads, _m.KvHeads, _m.HeadDim, KvBlocks, _ps, Math.Max(2, Options.PrefillPlanCacheSize));
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public ServingEngineOptions Options { get; }
    /// <summary>The kernels this engine runs, under the keys a profile records them by (engine.decode_attention, ...): a validation compares them with the profile's.</summary>
    public IReadOnlyDictionary<string, string> Kernels
    {
        get
        {
            var k = _engine.Options.Provenance();
            // Only the server records this key, so a validation does not count it as a difference from the profile.
            if (_plans is not null)
                k["engine.prefill_plans"] = $"cuDNN plans bucketed by chunk count, length (powers of 2 from {PrefillBucket.MinQueries}) and cache pages, always ragged";
            return k;
        }
    }
    /// <summary>Why prefill attention asked as auto runs Joules' kernel although cuDNN loads (its probe failed), or null.</summary>
    public string? CudnnFallback => _engine.CudnnFallback;
    /// <summary>cuDNN prefill plans built so far, the host seconds they took and how many are held (zeros without cuDNN).</summary>
    public (long Built, double Seconds, int Held) PrefillPlans => _plans is null ? default : (_plans.Built, _plans.BuildSeconds, _plans.Held);
    public ModelShard Shard => _m;
    public string DeviceName => _ctx.Name;
    public string DeviceUuid => _ctx.Uuid;
    public CudaContext Context => _ctx;
    /// <summary>KV blocks in the pool: block ids the scheduler hands out must lie in [0, KvBlocks).</summary>
    public int KvBlocks { get; }
    /// <summary>Graphs captured so far (a new shape each).</summary>
    public long GraphsCaptured { get; private set; }
    /// <summary>Graphs held now.</summary>
    public int GraphsHeld => _graphs.Count;

    /// <summary>Runs one iteration and waits for it; the greedy next token of each sequence is in <see cref="ServingBatch.Sampled"/>.</summary>
    public ServingStepTiming Run(ServingBatch b)
    {
        int n = b.Count, t = b.TokenCount;
        if (n == 0) throw new ArgumentException("an iteration needs at least one sequence");
        if (t > _maxTokens) throw new ArgumentException($"iteration of {t} tokens exceeds max-num-batched-tokens {_maxTokens}");
        if (n > _maxSeqs) throw new ArgumentException($"iteration of {n} sequences exceeds max-num-seqs {_maxSeqs}");
        _ctx.MakeCurrent();
        var decodeOnly = true;
        int maxPages = 0, decodes = 0;
        for (var i = 0; i < n; i++)
        {
            var end = b.ContextBefore(i) + b.NewTokens(i);
            var pages = EngineMath.PagesFor(end, _ps);
            if (pages > b.BlockTable(i).Length)
                throw new ArgumentException($"sequence {i} holds {b.BlockTable(i).Length} KV blocks but needs {pages} for {end} tokens");
            maxPages = Math.Max(maxPages, pages);
            if (b.IsDecode(i)) decodes++;
            else decodeOnly = false;
        }
        var graph = decodeOnly && Options.UseGraphs;
        if (maxPages > _maxStride) throw new ArgumentException($"a sequence of {maxPages * _ps} tokens exceeds max-model-len");
        int stride = graph ? StrideBucket(maxPages, EngineMath.PagesFor(ContextBucket, _ps), _maxStride) : maxPages;
        var tiles = FillTables(b, stride);
        Upload(b, stride, tiles, decodes);
        var built = PreparePrefillPlans(b);

        var dims = new Dims(t, n, tiles, decodes, stride);
        var captured = false;
        _evStart.Record(_stream);
        if (graph && _graphs.TryGet((n, stride), out var replay))
        {
            replay.Launch(_stream);
            _evEnd.Record(_stream);
        }
        else
        {
            Forward(_stream, dims);
            _evEnd.Record(_stream);
            if (graph)
            {
                // Captured while the eager pass runs on the GPU: the capture is host work only.
                _capture.BeginCapture();
                CudaGraph g;
                try { Forward(_capture, dims); }
                finally { g = _capture.EndCapture(); }
                _graphs.Add((n, stride), g);
                GraphsCaptured++;
                captured = true;
            }
        }
        _evEnd.Synchronize();
        _next.Download<int>(b.Sampled.AsSpan(0, n));
        return new ServingStepTiming(CudaEvent.ElapsedMs(_evStart, _evEnd) / 1000.0, graph && !captured, captured, built);
    }

    // The cuDNN plans of this iteration's fresh prompts and chunks over a cache (built when their bucket is new), with
    // the chunks' lengths, rows and page tables uploaded on the stream ahead of the forward pass; returns plans built.
    private int PreparePrefillPlans(ServingBatch b)
    {
        _freshPlan = _chunkPlan = null;
        if (_plans is null) return 0;
        var before = _plans.Built;
        if (_fresh.Count > 0) _freshPlan = PreparePlan(b, _fresh, paged: false);
        if (_chunks.Count > 0) _chunkPlan = PreparePlan(b, _chunks, paged: true);
        return (int)(_plans.Built - before);
    }

    private CudnnPrefillAttention PreparePlan(ServingBatch b, List<int> group, bool paged)
    {
        int count = group.Count, longest = 0, mostPages = 0;
        var starts = new int[count];
        var lengths = new int[count];
        for (var j = 0; j < count; j++)
        {
            var i = group[j];
            starts[j] = _host[_offStart + i];
            lengths[j] = b.NewTokens(i);
            longest = Math.Max(longest, lengths[j]);
            mostPages = Math.Max(mostPages, EngineMath.PagesFor(b.ContextBefore(i) + lengths[j], _ps));
        }
        var bucket = PrefillBucket.For(paged, count, longest, mostPages, _maxTokens, EngineMath.PagesFor(ContextBucket, _ps), _maxStride);
        var plan = _plans!.Get(bucket);
        PagedKv? kv = null;
        if (paged)
        {
            // Each chunk's row of the page table: its block ids up to its last token, then zeros (masked: past its keys).
            int pps = bucket.PagesPerSequence;
            var table = new int[count * pps];
            var contexts = new int[count];
            for (var j = 0; j < count; j++)
            {
                var i = group[j];
                contexts[j] = b.ContextBefore(i);
                b.BlockTable(i)[..EngineMath.PagesFor(contexts[j] + lengths[j], _ps)].CopyTo(table.AsSpan(j * pps));
            }
            kv = new PagedKv(contexts, table, pps, KvBlocks, _ps);
        }
        plan.Update(_stream, starts, lengths, kv);
        return plan;
    }

    private readonly record struct Dims(int Tokens, int Sequences, int Tiles, int Decodes, int Stride);

    /// <summary>Block-table stride of a graph: the pages of the longest sequence rounded up to 2^k or 1.5 × 2^k (at least <paramref name="minimum"/>, at most <paramref name="maximum"/>), so few graphs cover every context and the table uploaded is at most 1.5x the rows' pages.</summary>
    public static int StrideBucket(int pages, int minimum, int maximum)
    {
        long b = Math.Max(1, minimum);
        while (b < pages)
        {
            long half = b / 2;
            // 2^k -> 1.5 x 2^k -> 2^(k+1) (1 -> 2: no half step below 2)
            b = long.IsPow2(b) && half > 0 ? b + half : (long)System.Numerics.BitOperations.RoundUpToPowerOf2((ulong)b + 1);
        }
        return (int)Math.Min(Math.Max(b, pages), maximum);
    }

    // Token positions, cache slots, per-sequence tables, prefill tiles (64 queries each), decode list and block table.
    private int FillTables(ServingBatch b, int stride)
    {
        var hs = _host;
        int tok = 0, tiles = 0, decodes = 0;
        _fresh.Clear();
        _chunks.Clear();
        var ids = b.TokenIds;
        ids.CopyTo(hs.AsSpan(_offIds));
        for (var i = 0; i < b.Count; i++)
        {
            int nw = b.NewTokens(i), ctx = b.ContextBefore(i);
            var table = b.BlockTable(i);
            var row = hs.AsSpan(_offBt + i * stride, stride);
            var used = Math.Min(table.Length, stride);
            table[..used].CopyTo(row);
            row[used..].Clear();
            hs[_offStart + i] = tok;
            hs[_offNew + i] = nw;
            hs[_offCtx + i] = ctx;
            for (var j = 0; j < nw; j++)
            {
                var pos = ctx + j;
                hs[_offPos + tok + j] = pos;
                hs[_offSlot + tok + j] = table[pos / _ps] * _ps + pos % _ps;
            }
            tok += nw;
            hs[_offLast + i] = tok - 1;
            if (b.IsDecode(i))
            {
                _kvLens[decodes] = ctx + 1;
                hs[_offDseq + decodes++] = i;
            }
            else if (_plans is not null)
                (ctx == 0 ? _fresh : _chunks).Add(i);
            else
                for (var q0 = 0; q0 < nw; q0 += 64)
                {
                    hs[_offTiles + 2 * tiles] = i;
                    hs[_offTiles + 2 * tiles + 1] = q0;
                    tiles++;
                }
        }
        if (decodes > 0) DecodeWork.Fill(_kvLens.AsSpan(0, decodes), _engine.Options.DecodeItemHeads(_m), _ctx.MultiprocessorCount, hs.AsSpan(_offWork));
        return tiles;
    }

    private void Upload(ServingBatch b, int stride, int tiles, int decodes)
    {
        int t = b.TokenCount, n = b.Count;
        void Region(int offset, int count) => _meta.UploadAsync<int>(_host.AsSpan(offset, count), _stream, offset * 4L);
        Region(_offIds, t);
        Region(_offPos, t);
        Region(_offSlot, t);
        // The five per-sequence tables, the decode list and its work table are adjacent: one copy.
        Region(_offLast, decodes > 0 ? _offWork - _offLast + DecodeWork.TableLength(decodes) : _offDseq - _offLast + 1);
        if (tiles > 0) Region(_offTiles, 2 * tiles);
        Region(_offBt, n * stride);
    }

    private ulong Meta(int offset) => _meta.At(offset * 4L);

    /// <summary>One forward pass over the current tables: the launches of <see cref="TransformerEngine"/>'s iteration at tp = 1.</summary>
    private void Forward(CudaStream s, Dims d)
    {
        var m = _m;
        int h = m.Hidden, q = m.QkvWidth, a = m.Heads * m.HeadDim, f = m.Ffn, t = d.Tokens;
        float eps = (float)m.Model.RmsEps;
        var opts = _engine.Options;
        _k.Embed(s, Meta(_offIds), _engine.Embedding.Ptr, _x.Ptr, t, h);
        for (var l = 0; l < m.Layers; l++)
        {
            var w = _engine.Layers[l];
            ulong kc = _kCache.At(l * _layerCacheBytes), vc = _vCache.At(l * _layerCacheBytes);
            _dense.NormProject(s, _x.Ptr, 0, w.AttnNorm.Ptr, eps, _h.Ptr, w.Qkv.Ptr, _qkv.Ptr, t, q, h);
            _k.QkvRopeCache(s, _qkv.Ptr, w.QkvBias?.Ptr ?? 0, Meta(_offPos), Meta(_offSlot), kc, vc, t, m.Heads, m.KvHeads, m.HeadDim, m.Model.RopeTheta);
            _freshPlan?.Enqueue();
            _chunkPlan?.Enqueue(kc, vc);
            if (d.Tiles > 0)
                _k.PrefillAttention(s, m.HeadDim, _qkv.Ptr, kc, vc, Meta(_offBt), d.Stride, _ps, Meta(_offTiles), d.Tiles,
                    Meta(_offStart), Meta(_offNew), Meta(_offCtx), _attn.Ptr, m.Heads, m.KvHeads, opts.PipelinedPrefill);
            if (d.Decodes > 0)
                _k.DecodeAttentionWorkList(s, m.HeadDim, _qkv.Ptr, kc, vc, Meta(_offBt), d.Stride, _ps, Meta(_offDseq), d.Decodes,
                    Meta(_offStart), Meta(_offCtx), Meta(_offWork), _ctx.MultiprocessorCount, _partO.Ptr, _partMl.Ptr, _attn.Ptr, m.Heads, m.KvHeads, opts.DecodeItemHeads(m), opts.DecodeKernel);
            _dense.Project(s, _attn.Ptr, w.O.Ptr, _x.Ptr, t, h, a, accumulate: true);
            _dense.NormProject(s, _x.Ptr, 0, w.MlpNorm.Ptr, eps, _h.Ptr, w.GateUp.Ptr, _gateUp.Ptr, t, 2 * f, h);
            _dense.SwiGluProject(s, _gateUp.Ptr, _act.Ptr, w.Down.Ptr, _x.Ptr, t, h, f, accumulate: true);
        }
        _dense.NormProject(s, _x.Ptr, Meta(_offLast), _engine.FinalNorm.Ptr, eps, _lastH.Ptr, _engine.LmHead.Ptr, _logits.Ptr, d.Sequences, m.VocabShard, h);
        _k.Argmax(s, _logits.Ptr, d.Sequences, m.VocabShard, _next.Ptr);
    }

    private DeviceBuffer Alloc(long bytes)
    {
        var b = new DeviceBuffer(bytes);
        _buffers.Add(b);
        return b;
    }

    private static int RoundUp(int v, int m) => (v + m - 1) / m * m;
    private static long RoundUp(long v, int m) => (v + m - 1) / m * m;

    public void Dispose()
    {
        try
        {
            _ctx?.MakeCurrent();
            _stream?.Synchronize();
        }
        catch (CudaException) { }
        _graphs?.Dispose();
        _plans?.Dispose();
        foreach (var b in _buffers) b.Dispose();
        _buffers.Clear();
        _capture?.Dispose();
        _evStart?.Dispose();
        _evEnd?.Dispose();
        _engine?.Dispose();
    }
}
