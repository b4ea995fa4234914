using System.Diagnostics;
using Joules.Cuda;

namespace Joules.Calibration.Engine;

/// <summary>Which bucketed cuDNN plan runs one group of a serving iteration's prefill chunks (the fresh prompts, or the chunks over a cached context).</summary>
/// <param name="Paged">Whether the chunks read their keys and values from the paged cache.</param>
/// <param name="Chunks">Chunks in the group (exact: cuDNN's ragged batch has no empty entries to pad with).</param>
/// <param name="Queries">Most tokens of a chunk the plan takes: the longest chunk rounded up to a power of two.</param>
/// <param name="PagesPerSequence">Page-table columns (the longest chunk's pages, cached context included, rounded up like the decode graphs' strides); 0 for fresh prompts.</param>
public readonly record struct PrefillBucket(bool Paged, int Chunks, int Queries, int PagesPerSequence)
{
    /// <summary>Fewest queries of a bucket (one of the engine's 64-query tiles).</summary>
    public const int MinQueries = 64;

    /// <summary>The bucket of <paramref name="chunks"/> chunks whose longest is <paramref name="longestChunk"/> tokens and needs <paramref name="mostPages"/> pages.</summary>
    /// <param name="paged">Whether the chunks are over a cached context.</param>
    /// <param name="chunks">Chunks in the group.</param>
    /// <param name="longestChunk">Tokens of its longest chunk.</param>
    /// <param name="mostPages">Pages of its longest sequence (cached context plus chunk).</param>
    /// <param name="maxTokens">Most tokens of an iteration (max-num-batched-tokens): no chunk is longer, nor is any bucket.</param>
    /// <param name="minPages">Smallest page-table width of a bucket.</param>
    /// <param name="maxPages">Widest page table (max-model-len's pages).</param>
    public static PrefillBucket For(bool paged, int chunks, int longestChunk, int mostPages, int maxTokens, int minPages, int maxPages)
    {
        if (chunks < 1 || longestChunk < 1) throw new ArgumentException("a prefill group has at least one chunk of one token");
        if (longestChunk > maxTokens) throw new ArgumentException($"a chunk of {longestChunk} tokens exceeds max-num-batched-tokens {maxTokens}");
        var queries = (int)Math.Min(maxTokens, Math.Max(MinQueries, (long)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)longestChunk)));
        var pages = paged ? ServingEngine.StrideBucket(mostPages, minPages, maxPages) : 0;
        return new PrefillBucket(paged, chunks, queries, pages);
    }
}

/// <summary>
/// The serving engine's cuDNN prefill-attention plans, one per <see cref="PrefillBucket"/>, built on first use (a cuDNN plan
/// is compiled for its dimensions; the chunks' own lengths, rows and page tables are device data set each iteration) and
/// kept, the least recently used dropped beyond a capacity.
/// </summary>
internal sealed class CudnnPrefillPlans : IDisposable
{
    private readonly CudnnHandle _handle;
    private readonly ulong _qkv, _attn;
    private readonly int _heads, _kvHeads, _headDim, _totalPages, _pageSize;
    private readonly LruCache<PrefillBucket, CudnnPrefillAttention> _plans;

    /// <param name="handle">The engine's cuDNN handle (on its stream).</param>
    /// <param name="qkv">The engine's QKV rows.</param>
    /// <param name="attn">The engine's attention output rows.</param>
    /// <param name="heads">Query heads.</param>
    /// <param name="kvHeads">Key/value heads.</param>
    /// <param name="headDim">Head size.</param>
    /// <param name="totalPages">Pages in one layer's cache.</param>
    /// <param name="pageSize">Tokens per page.</param>
    /// <param name="capacity">Most plans kept.</param>
    public CudnnPrefillPlans(CudnnHandle handle, ulong qkv, ulong attn, int heads, int kvHeads, int headDim, int totalPages, int pageSize, int capacity)
    {
        _handle = handle;
        _qkv = qkv;
        _attn = attn;
        _heads = heads;
        _kvHeads = kvHeads;
        _headDim = headDim;
        _totalPages = totalPages;
        _pageSize = pageSize;
        _plans = new LruCache<PrefillBucket, CudnnPrefillAttention>(capacity);
    }

    /// <summary>Plans built so far (first uses of a bucket, and rebuilds of dropped ones).</summary>
    public long Built { get; private set; }
    /// <summary>Host seconds spent building them (outside the iterations' device time, inside the requests' latency).</summary>
    public double BuildSeconds { get; private set; }
    /// <summary>Plans held now.</summary>
    public int Held => _plans.Count;

    /// <summary>The plan of <paramref name="bucket"/>, built now if not held.</summary>
    public CudnnPrefillAttention Get(PrefillBucket bucket) => _plans.GetOrAdd(bucket, Build, out _);

    private CudnnPrefillAttention Build(PrefillBucket b)
    {
        var clock = Stopwatch.StartNew();
        var plan = CudnnPrefillAttention.ForBucket(_handle, _qkv, _attn, _heads, _kvHeads, _headDim, b.Chunks, b.Queries,
            b.PagesPerSequence, b.Paged ? _totalPages : 0, b.Paged ? _pageSize : 0);
        Built++;
        BuildSeconds += clock.Elapsed.TotalSeconds;
        return plan;
    }

    public void Dispose() => _plans.Dispose();
}
