using Joules.Cuda;
using static Joules.Cuda.CudnnEnum;

namespace Joules.Calibration.Engine;

/// <summary>Which implementation runs prefill attention (fresh prompts and chunks over a cached context).</summary>
public enum PrefillAttention
{
    /// <summary>cuDNN where it loads (<see cref="Cudnn.IsAvailable"/>), else Joules' kernel: the default, as production engines run a library flash attention.</summary>
    Auto,
    /// <summary>Joules' own flash-style kernel (tensor cores through mma.sync, cp.async double buffering).</summary>
    Joules,
    /// <summary>cuDNN's fused flash attention (the backend graph PyTorch's cuDNN SDPA builds): fresh prompts from the QKV rows, chunks over a cache through its paged cache load.</summary>
    Cudnn,
}

/// <summary>Names of <see cref="PrefillAttention"/> values on the command line.</summary>
public static class PrefillAttentions
{
    public static IReadOnlyDictionary<PrefillAttention, string> Names { get; } = new Dictionary<PrefillAttention, string>
    {
        [PrefillAttention.Auto] = "auto", [PrefillAttention.Joules] = "joules", [PrefillAttention.Cudnn] = "cudnn",
    };

    /// <summary>The implementation a setting runs on this machine: <see cref="PrefillAttention.Auto"/> is cuDNN where it loads, else Joules.</summary>
    public static PrefillAttention Resolve(PrefillAttention choice) =>
        choice != PrefillAttention.Auto ? choice : Cudnn.IsAvailable(out _) ? PrefillAttention.Cudnn : PrefillAttention.Joules;

    public static PrefillAttention Parse(string name) =>
        Names.FirstOrDefault(kv => kv.Value == name) is { Value: not null } hit ? hit.Key
            : throw new ArgumentException($"unknown prefill attention '{name}' (expected {string.Join(", ", Names.Values)})");
}

/// <summary>Where a chunk batch's keys and values are: the engine's paged cache, described once (the cache of each layer is passed when the attention is enqueued).</summary>
/// <param name="Contexts">Tokens already cached before each chunk.</param>
/// <param name="PageTable">Each chunk's page ids, row-major, <paramref name="PagesPerSequence"/> per chunk (the first pages of the engine's block table).</param>
/// <param name="PagesPerSequence">Pages of the longest sequence (cached context plus chunk).</param>
/// <param name="TotalPages">Pages in one layer's cache.</param>
/// <param name="PageSize">Tokens per page.</param>
internal sealed record PagedKv(int[] Contexts, int[] PageTable, int PagesPerSequence, int TotalPages, int PageSize)
{
    /// <summary>The chunks' rows of the engine's block table (<paramref name="blockTable"/>: <paramref name="maxPages"/> page ids per sequence), cut to the pages the longest of them needs, as cuDNN wants the table (ceil(keys / page size) columns).</summary>
    public static PagedKv ForChunks(int[] blockTable, int maxPages, IReadOnlyList<int> chunks, int[] contexts, int[] newTokens, int totalPages, int pageSize)
    {
        int pps = chunks.Max(i => EngineMath.PagesFor(contexts[i] + newTokens[i], pageSize));
        var table = new int[chunks.Count * pps];
        for (var j = 0; j < chunks.Count; j++)
            Array.Copy(blockTable, chunks[j] * maxPages, table, j * pps, EngineMath.PagesFor(contexts[chunks[j]] + newTokens[chunks[j]], pageSize));
        return new PagedKv(chunks.Select(i => contexts[i]).ToArray(), table, pps, totalPages, pageSize);
    }
}

/// <summary>The device metadata of a ragged cuDNN attention batch, as one int32 array: query lengths, key lengths, the ragged element offsets of the Q/K/V rows and of the output rows (chunks + 1 each), then the page table.</summary>
internal sealed record CudnnAttentionMetadata(int[] Values, int KeyLengths, int RowOffsets, int OutputOffsets, int PageTable)
{
    /// <param name="starts">First token of each chunk in the rows.</param>
    /// <param name="lengths">Tokens of each chunk.</param>
    /// <param name="rowWidth">Elements per QKV row.</param>
    /// <param name="outputWidth">Elements per output row.</param>
    /// <param name="paged">Cached contexts and page table, or null for fresh prompts.</param>
    public static CudnnAttentionMetadata Build(int[] starts, int[] lengths, long rowWidth, long outputWidth, PagedKv? paged)
    {
        int b = starts.Length, pt = paged is null ? 0 : b * paged.PagesPerSequence;
        var (length, qo, oo, po) = Layout(b, paged?.PagesPerSequence ?? 0);
        var meta = new int[length];
        for (var i = 0; i < b; i++)
        {
            meta[i] = lengths[i];
            meta[b + i] = lengths[i] + (paged?.Contexts[i] ?? 0);
            meta[qo + i] = checked((int)(starts[i] * rowWidth));
            meta[oo + i] = checked((int)(starts[i] * outputWidth));
        }
        meta[qo + b] = checked((int)((starts[^1] + lengths[^1]) * rowWidth));
        meta[oo + b] = checked((int)((starts[^1] + lengths[^1]) * outputWidth));
        if (paged is not null) Array.Copy(paged.PageTable, 0, meta, po, pt);
        return new CudnnAttentionMetadata(meta, b, qo, oo, po);
    }

    /// <summary>Where the parts of the array lie for <paramref name="chunks"/> chunks and a page table of <paramref name="pagesPerSequence"/> columns (0: none): its length and the first index of the row offsets, output offsets and page table (key lengths start at <paramref name="chunks"/>).</summary>
    public static (int Length, int RowOffsets, int OutputOffsets, int PageTable) Layout(int chunks, int pagesPerSequence)
    {
        int qo = 2 * chunks, oo = qo + chunks + 1, po = oo + chunks + 1;
        return (po + chunks * pagesPerSequence, qo, oo, po);
    }

    /// <summary>Whether prompts this long at these rows are a plain batch (one length, back to back, no cache) rather than a ragged one.</summary>
    public static bool IsPlainBatch(int[] starts, int[] lengths, bool paged) =>
        !paged && Enumerable.Range(0, starts.Length).All(i => lengths[i] == lengths[0] && starts[i] == starts[0] + i * lengths[0]);
}

/// <summary>The shape a cuDNN prefill-attention plan is built for: what its graph's dimensions are (the chunks' own lengths are device data of a ragged plan).</summary>
/// <param name="Chunks">Chunks (prompts) in the batch.</param>
/// <param name="Queries">Most query tokens of a chunk.</param>
/// <param name="Keys">Most keys of a chunk (its cached context plus its tokens).</param>
/// <param name="Ragged">Whether lengths and row offsets are per chunk (false: a plain batch, one length, back to back).</param>
/// <param name="PagesPerSequence">Columns of the page table, or 0 for fresh prompts (keys and values in the QKV rows).</param>
/// <param name="TotalPages">Pages in one layer's cache (0 for fresh prompts).</param>
/// <param name="PageSize">Tokens per page (0 for fresh prompts).</param>
public readonly record struct CudnnAttentionShape(int Chunks, long Queries, long Keys, bool Ragged, int PagesPerSequence, int TotalPages, int PageSize)
{
    /// <summary>Whether keys and values are read from the paged cache.</summary>
    public bool Paged => PagesPerSequence > 0;

    /// <summary>The exact shape of these chunks (calibration: one plan per iteration shape).</summary>
    internal static CudnnAttentionShape Exact(int[] starts, int[] lengths, PagedKv? paged)
    {
        int b = starts.Length;
        if (b == 0 || lengths.Length != b) throw new ArgumentException("one length per chunk, at least one chunk");
        if (paged is not null && paged.Contexts.Length != b) throw new ArgumentException("one cached context per chunk");
        long keys = Enumerable.Range(0, b).Max(i => (long)lengths[i] + (paged?.Contexts[i] ?? 0));
        // Prompts of one length back to back are a plain batch: the graph PyTorch runs, without per-prompt lengths
        // (the padding mask and ragged offsets cost 10-20 % at 1x2048 to 8x2048 on the H200).
        var ragged = !CudnnAttentionMetadata.IsPlainBatch(starts, lengths, paged is not null);
        return paged is null
            ? new CudnnAttentionShape(b, lengths.Max(), keys, ragged, 0, 0, 0)
            : new CudnnAttentionShape(b, lengths.Max(), keys, ragged, paged.PagesPerSequence, paged.TotalPages, paged.PageSize);
    }

    /// <summary>A ragged bucket: any <paramref name="chunks"/> chunks of at most <paramref name="queries"/> tokens, over at most <paramref name="pagesPerSequence"/> pages each (0: fresh prompts, keys as many as queries).</summary>
    internal static CudnnAttentionShape Bucket(int chunks, int queries, int pagesPerSequence, int totalPages, int pageSize)
    {
        if (chunks < 1 || queries < 1) throw new ArgumentException("a bucket holds at least one chunk of one token");
        return pagesPerSequence > 0
            ? new CudnnAttentionShape(chunks, queries, (long)pagesPerSequence * pageSize, true, pagesPerSequence, totalPages, pageSize)
            : new CudnnAttentionShape(chunks, queries, queries, true, 0, 0, 0);
    }
}

/// <summary>
/// Causal attention of a batch of prefill chunks through cuDNN's fused flash attention, queries read straight from the
/// engine's token-major QKV rows and outputs written into its attention rows. Fresh prompts take their keys and values
/// from the same rows; chunks over a cached context read them from the engine's paged cache through cuDNN's paged cache
/// load (the page table is the engine's block table) with the causal mask aligned bottom-right. Several chunks are one
/// ragged batch (ragged offsets, per-chunk lengths, padding mask); prompts of one length back to back a plain batch.
/// </summary>
/// <remarks>
/// The graph is the one cudnn-frontend builds for <c>sdpa(..., causal, padding mask[, paged K/V])</c> and that PyTorch's
/// cuDNN SDPA backend ran on the H200 (recorded by calibration/device/cudnn_recipe.py): Q·Kᵀ with per-sequence lengths,
/// scale, padding mask, causal mask, softmax as max/sub/exp/sum/div (its statistics computed and left virtual, as the
/// frontend does for inference), P·V. cuDNN recognises the pattern and runs one fused kernel.
/// </remarks>
internal sealed class CudnnPrefillAttention : IDisposable
{
    private const long UidQ = 1, UidK = 2, UidV = 3, UidO = 4, UidScale = 5, UidSeqQ = 6, UidSeqKv = 7, UidQOff = 8, UidOOff = 9,
        UidMasked = 10, UidMasked2 = 11, UidPageTable = 12, UidKCache = 13, UidVCache = 14, Virtual = 100;
    private readonly CudnnGraph _graph = new();
    private readonly DeviceBuffer? _meta;
    private readonly DeviceBuffer _workspace;
    private readonly long _rowWidth, _outputWidth;

    /// <param name="handle">The engine's cuDNN handle.</param>
    /// <param name="qkv">Device address of the QKV rows ([token][(heads + 2 kvHeads) x headDim] bf16, RoPE applied).</param>
    /// <param name="output">Device address of the attention rows ([token][heads x headDim] bf16).</param>
    /// <param name="heads">Query heads (of this shard).</param>
    /// <param name="kvHeads">Key/value heads (of this shard).</param>
    /// <param name="headDim">Head size.</param>
    /// <param name="starts">First token of each chunk in those rows.</param>
    /// <param name="lengths">Tokens of each chunk.</param>
    /// <param name="paged">Null for fresh prompts (keys and values in the QKV rows); else where the cached keys and values are.</param>
    public CudnnPrefillAttention(CudnnHandle handle, ulong qkv, ulong output, int heads, int kvHeads, int headDim, int[] starts, int[] lengths,
        PagedKv? paged = null)
        : this(handle, qkv, output, heads, kvHeads, headDim, CudnnAttentionShape.Exact(starts, lengths, paged), starts.Length > 0 ? starts[0] : 0)
    {
        if (Ragged) _meta!.Upload<int>(CudnnAttentionMetadata.Build(starts, lengths, _rowWidth, _outputWidth, paged).Values);
    }

    /// <summary>A ragged plan for any <paramref name="chunks"/> chunks of at most <paramref name="queries"/> tokens (over at
    /// most <paramref name="pagesPerSequence"/> pages of cache each, or fresh prompts when 0), whose lengths, rows and page
    /// table are set before each use by <see cref="Update"/>: what a serving engine reuses across iterations of one bucket.</summary>
    public static CudnnPrefillAttention ForBucket(CudnnHandle handle, ulong qkv, ulong output, int heads, int kvHeads, int headDim,
        int chunks, int queries, int pagesPerSequence, int totalPages, int pageSize) =>
        new(handle, qkv, output, heads, kvHeads, headDim, CudnnAttentionShape.Bucket(chunks, queries, pagesPerSequence, totalPages, pageSize), 0);

    private CudnnPrefillAttention(CudnnHandle handle, ulong qkv, ulong output, int heads, int kvHeads, int headDim, CudnnAttentionShape shape, int firstStart)
    {
        Shape = shape;
        int b = shape.Chunks;
        long s = shape.Queries, skv = shape.Keys, d = headDim, w = (long)(heads + 2 * kvHeads) * headDim, ow = (long)heads * headDim, h = heads, hk = kvHeads;
        _rowWidth = w;
        _outputWidth = ow;
        Paged = shape.Paged;
        Ragged = shape.Ragged;
        var g = _graph;
        long[] One(long n) => [n, 1, 1, 1];
        long[] Unit = [1, 1, 1, 1];
        nint seqQ = 0, seqKv = 0, qOff = 0, oOff = 0, pageTable = 0;
        ulong qBase = qkv, oBase = output;
        if (Ragged)
        {
            var (length, qo, oo, po) = CudnnAttentionMetadata.Layout(b, shape.PagesPerSequence);
            _meta = new DeviceBuffer(length * 4L);
            seqQ = g.Tensor(UidSeqQ, DataInt32, One(b), Unit);
            seqKv = g.Tensor(UidSeqKv, DataInt32, One(b), Unit);
            qOff = g.Tensor(UidQOff, DataInt32, One(b + 1), Unit);
            oOff = g.Tensor(UidOOff, DataInt32, One(b + 1), Unit);
            g.Bind(UidSeqQ, _meta.Ptr);
            g.Bind(UidSeqKv, _meta.At(b * 4L));
            g.Bind(UidQOff, _meta.At(qo * 4L));
            g.Bind(UidOOff, _meta.At(oo * 4L));
            if (Paged)
            {
                long pps = shape.PagesPerSequence;
                pageTable = g.Tensor(UidPageTable, DataInt32, [b, 1, pps, 1], [pps, pps, 1, 1]);
                g.Bind(UidPageTable, _meta.At(po * 4L));
            }
        }
        else
        {
            qBase += (ulong)(firstStart * w * 2);
            oBase += (ulong)(firstStart * ow * 2);
        }
        var q = g.Tensor(UidQ, DataBfloat16, [b, h, s, d], [s * w, d, w, 1], raggedOffset: qOff);
        var o = g.Tensor(UidO, DataBfloat16, [b, h, s, d], [s * ow, d, ow, 1], raggedOffset: oOff);
        g.Bind(UidQ, qBase);
        g.Bind(UidO, oBase);
        long next = Virtual;
        nint kt, v;
        if (!Paged)
        {
            // Kᵀ as the backend's first matmul takes it: dims (b, hk, d, s) over the same rows.
            kt = g.Tensor(UidK, DataBfloat16, [b, hk, d, s], [s * w, d, 1, w], raggedOffset: qOff);
            v = g.Tensor(UidV, DataBfloat16, [b, hk, s, d], [s * w, d, w, 1], raggedOffset: qOff);
            g.Bind(UidK, qBase + (ulong)(h * d * 2));
            g.Bind(UidV, qBase + (ulong)((h + hk) * d * 2));
        }
        else
        {
            // The engine's cache of one layer: [page][slot][kv head][dim], bound per layer when enqueued.
            long ps = shape.PageSize;
            long[] cDims = [shape.TotalPages, hk, ps, d], cStrides = [ps * hk * d, d, hk * d, 1];
            var kCache = g.Tensor(UidKCache, DataBfloat16, cDims, cStrides);
            var vCache = g.Tensor(UidVCache, DataBfloat16, cDims, cStrides);
            kt = g.Tensor(next++, DataBfloat16, [b, hk, d, skv], [d * skv * hk, d * skv, 1, d], isVirtual: true);
            v = g.Tensor(next++, DataBfloat16, [b, hk, skv, d], [d * skv * hk, d * skv, d, 1], isVirtual: true);
            g.PagedCacheLoad(kCache, pageTable, seqKv, kt);
            g.PagedCacheLoad(vCache, pageTable, seqKv, v);
        }
        var scale = g.Scalar(UidScale, 1f / MathF.Sqrt(headDim));
        var lowest = Ragged ? g.Scalar(UidMasked, float.MinValue) : 0;
        var lowest2 = g.Scalar(UidMasked2, float.MinValue);

        long[] sDims = [b, h, s, skv], sStrides = [h * s * skv, s * skv, skv, 1], rDims = [b, h, s, 1], rStrides = [h * s, s, 1, 1];
        nint Scores(int type) => g.Tensor(next++, type, sDims, sStrides, isVirtual: true);
        nint Rows() => g.Tensor(next++, DataFloat, rDims, rStrides, isVirtual: true);

        var s1 = Scores(DataFloat);
        g.Matmul(q, kt, s1, mOverride: seqQ, nOverride: seqKv, padding: Ragged ? 0.0 : null);
        var s2 = Scores(DataFloat);
        g.Pointwise(PwMul, DataFloat, s1, s2, b: scale);
        var s3 = s2;
        if (Ragged)
        {
            // Padding mask: rows and columns past each chunk's queries and keys.
            var row = Scores(DataInt32); g.Pointwise(PwGenIndex, DataInt32, s2, row, axis: 2);
            var col = Scores(DataInt32); g.Pointwise(PwGenIndex, DataInt32, s2, col, axis: 3);
            var rowIn = Scores(DataBoolean); g.Pointwise(PwCmpLt, DataBoolean, row, rowIn, b: seqQ);
            var colIn = Scores(DataBoolean); g.Pointwise(PwCmpLt, DataBoolean, col, colIn, b: seqKv);
            var inside = Scores(DataBoolean); g.Pointwise(PwLogicalAnd, DataBoolean, rowIn, inside, b: colIn);
            s3 = Scores(DataFloat); g.Pointwise(PwBinarySelect, DataFloat, s2, s3, b: lowest, t: inside);
        }
        // Causal mask: query row r of a chunk over c cached tokens sees keys 0..c + r (bottom-right aligned, as
        // row + keys - queries >= column); a fresh prompt's queries and keys are the same tokens (top-left).
        var row2 = Scores(DataInt32); g.Pointwise(PwGenIndex, DataFloat, s3, row2, axis: 2);
        var col2 = Scores(DataInt32); g.Pointwise(PwGenIndex, DataFloat, s3, col2, axis: 3);
        if (Paged)
        {
            var shifted = Scores(DataInt32); g.Pointwise(PwAdd, DataInt32, row2, shifted, b: seqKv);
            var aligned = Scores(DataInt32); g.Pointwise(PwSub, DataInt32, shifted, aligned, b: seqQ);
            row2 = aligned;
        }
        var causal = Scores(DataBoolean); g.Pointwise(PwCmpGe, DataBoolean, row2, causal, b: col2);
        var s4 = Scores(DataFloat); g.Pointwise(PwBinarySelect, DataFloat, s3, s4, b: lowest2, t: causal);
        // Softmax with its statistics (max + log of the sum), as the frontend lowers it.
        var max = Rows(); g.Reduction(ReduceMax, s4, max);
        var centred = Scores(DataFloat); g.Pointwise(PwSub, DataFloat, s4, centred, b: max);
        var exp = Scores(DataFloat); g.Pointwise(PwExp, DataFloat, centred, exp);
        var sum = Rows(); g.Reduction(ReduceAdd, exp, sum);
        var log = Rows(); g.Pointwise(PwLog, DataFloat, sum, log);
        var stats = Rows(); g.Pointwise(PwAdd, DataFloat, max, stats, b: log);
        var p = Scores(DataBfloat16); g.Pointwise(PwDiv, DataFloat, exp, p, b: sum);
        g.Matmul(p, v, o, mOverride: seqQ, kOverride: seqKv);
        g.Plan(handle);
        _workspace = new DeviceBuffer(Math.Max(256, g.WorkspaceBytes));
        Handle = handle;
        Chunks = b;
    }

    /// <summary>Why cuDNN cannot run prefill attention of these heads here, or null when it can: plans the three graphs the
    /// engine builds (a plain batch, a ragged one, chunks over a paged cache) on a few tokens, without running them.</summary>
    public static string? Probe(CudnnHandle handle, int heads, int kvHeads, int headDim, int pageSize)
    {
        long w = (heads + 2L * kvHeads) * headDim, ow = (long)heads * headDim;
        const int tokens = 192;
        try
        {
            using var rows = new DeviceBuffer(tokens * w * 2);
            using var output = new DeviceBuffer(tokens * ow * 2);
            using (new CudnnPrefillAttention(handle, rows.Ptr, output.Ptr, heads, kvHeads, headDim, [0], [128])) { }
            using (new CudnnPrefillAttention(handle, rows.Ptr, output.Ptr, heads, kvHeads, headDim, [0, 128], [128, 64])) { }
            var pages = EngineMath.PagesFor(64 + 128, pageSize);
            var paged = new PagedKv([64], [.. Enumerable.Range(0, pages)], pages, pages, pageSize);
            using (new CudnnPrefillAttention(handle, rows.Ptr, output.Ptr, heads, kvHeads, headDim, [0], [128], paged)) { }
            return null;
        }
        catch (Exception e) when (e is CudaException or EntryPointNotFoundException)
        {
            return e.Message;
        }
    }

    /// <summary>Sets the chunks a plan from <see cref="ForBucket"/> attends over next, on <paramref name="stream"/> (the
    /// handle's): their rows, lengths and, over a cache, contexts and page table (<see cref="PagedKv.PagesPerSequence"/>
    /// must be the plan's). Every chunk must fit the plan's bucket.</summary>
    public void Update(CudaStream stream, int[] starts, int[] lengths, PagedKv? paged)
    {
        if (!Ragged) throw new InvalidOperationException("a plain batch's shape is its plan; build another plan");
        if (starts.Length != Chunks || lengths.Length != Chunks) throw new ArgumentException($"the plan is for {Chunks} chunk(s), not {starts.Length}");
        if ((paged is not null) != Paged) throw new ArgumentException(Paged ? "the plan reads a cache: give its page table" : "the plan is for fresh prompts");
        if (paged is not null && paged.PagesPerSequence != Shape.PagesPerSequence)
            throw new ArgumentException($"page table of {paged.PagesPerSequence} pages per chunk for a plan of {Shape.PagesPerSequence}");
        for (var i = 0; i < Chunks; i++)
        {
            var keys = lengths[i] + (paged?.Contexts[i] ?? 0);
            if (lengths[i] < 1 || lengths[i] > Shape.Queries || keys > Shape.Keys)
                throw new ArgumentException($"chunk {i} of {lengths[i]} tokens over {keys - lengths[i]} cached does not fit a plan of {Shape.Queries} queries and {Shape.Keys} keys");
        }
        _meta!.UploadAsync<int>(CudnnAttentionMetadata.Build(starts, lengths, _rowWidth, _outputWidth, paged).Values, stream);
    }

    public CudnnHandle Handle { get; }
    /// <summary>What the plan was built for.</summary>
    public CudnnAttentionShape Shape { get; }
    /// <summary>Chunks (prompts) in the batch.</summary>
    public int Chunks { get; }
    /// <summary>Whether keys and values come from the paged cache (chunks over a cached context).</summary>
    public bool Paged { get; }
    /// <summary>Whether the graph carries per-chunk lengths and ragged offsets (chunks of different lengths, not back to back, or paged).</summary>
    public bool Ragged { get; }
    /// <summary>The engine cuDNN chose.</summary>
    public string EngineLabel => _graph.EngineLabel;

    /// <summary>Enqueues the attention of fresh prompts on the handle's stream.</summary>
    public void Enqueue()
    {
        if (Paged) throw new InvalidOperationException("chunks over a cache need the layer's K and V cache");
        _graph.Execute(Handle, _workspace.Ptr);
    }

    /// <summary>Enqueues the attention of chunks over the given layer's paged K and V cache.</summary>
    public void Enqueue(ulong kCache, ulong vCache)
    {
        if (!Paged) { Enqueue(); return; }
        _graph.Execute(Handle, _workspace.Ptr, kCache, (UidKCache, kCache), (UidVCache, vCache));
    }

    public void Dispose()
    {
        _graph.Dispose();
        _workspace.Dispose();
        _meta?.Dispose();
    }
}
