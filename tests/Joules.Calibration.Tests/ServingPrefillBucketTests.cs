using FsCheck;
using FsCheck.Fluent;
using Joules.Calibration.Engine;
using Xunit;

namespace Joules.Calibration.Tests;

/// <summary>The host side of the serving engine's bucketed cuDNN prefill plans: which bucket a group of chunks takes, the shape its plan is built for, and the cache that keeps plans and graphs.</summary>
public class ServingPrefillBucketTests
{
    // The serving engine's defaults: 8192 tokens an iteration, 16-token blocks, graphs' strides from 128 tokens, 128k contexts.
    private const int MaxTokens = 8192, PageSize = 16, MinPages = 8, MaxPages = 8192;

    private static PrefillBucket For(bool paged, int chunks, int longest, int pages) =>
        PrefillBucket.For(paged, chunks, longest, pages, MaxTokens, MinPages, MaxPages);

    [Fact]
    public void ChunksRoundUpToPowersOfTwoFrom64AndCachesToTheGraphStrides()
    {
        Assert.Equal(new PrefillBucket(false, 1, 64, 0), For(false, 1, 1, 1));
        Assert.Equal(new PrefillBucket(false, 1, 64, 0), For(false, 1, 64, 4));
        Assert.Equal(new PrefillBucket(false, 3, 128, 0), For(false, 3, 65, 5));
        Assert.Equal(new PrefillBucket(false, 1, 2048, 0), For(false, 1, 2048, 128));
        Assert.Equal(new PrefillBucket(false, 1, 8192, 0), For(false, 1, 5000, 313));
        // Over a cache the page table's width follows the decode graphs' strides: 2^k or 1.5 x 2^k pages, at least 8.
        Assert.Equal(new PrefillBucket(true, 1, 256, 8), For(true, 1, 200, 3));
        Assert.Equal(new PrefillBucket(true, 2, 512, 96), For(true, 2, 300, 65));
        Assert.Equal(new PrefillBucket(true, 1, 8192, 1024), For(true, 1, 8192, 1024));
        Assert.Equal(MaxPages, For(true, 1, 100, MaxPages).PagesPerSequence);
    }

    [Fact]
    public void ABucketNeverTakesLessThanItsChunksNeedNorMuchMore()
    {
        Prop.ForAll<int, int, int>((c, l, p) =>
        {
            var paged = (c & 1) == 1;
            int chunks = 1 + Math.Abs(c % 64), longest = 1 + Math.Abs(l % MaxTokens), pages = 1 + Math.Abs(p % MaxPages);
            var b = For(paged, chunks, longest, pages);
            var queriesOk = b.Queries >= longest && b.Queries <= Math.Max(PrefillBucket.MinQueries, 2 * longest) && b.Queries <= MaxTokens;
            var pagesOk = paged ? b.PagesPerSequence >= pages && b.PagesPerSequence <= Math.Max(MinPages, 2 * pages) : b.PagesPerSequence == 0;
            return b.Chunks == chunks && b.Paged == paged && queriesOk && pagesOk;
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void ImpossibleGroupsAreRefusedWithTheReason()
    {
        Assert.Contains("exceeds max-num-batched-tokens 8192", Assert.Throws<ArgumentException>(() => For(false, 1, 8193, 600)).Message);
        Assert.Throws<ArgumentException>(() => For(false, 0, 10, 1));
        Assert.Throws<ArgumentException>(() => For(true, 1, 0, 1));
    }

    [Fact]
    public void ABucketsPlanShapeHoldsAnyChunksOfTheBucket()
    {
        var fresh = CudnnAttentionShape.Bucket(3, 512, 0, 0, 0);
        Assert.Equal(new CudnnAttentionShape(3, 512, 512, true, 0, 0, 0), fresh);
        Assert.False(fresh.Paged);
        var paged = CudnnAttentionShape.Bucket(2, 256, 96, totalPages: 5000, pageSize: PageSize);
        Assert.Equal(new CudnnAttentionShape(2, 256, 96 * PageSize, true, 96, 5000, PageSize), paged);
        Assert.True(paged.Paged);
        // An exact shape (calibration) is plain for prompts of one length back to back, its keys those of the longest chunk.
        Assert.False(CudnnAttentionShape.Exact([0, 200], [200, 200], null).Ragged);
        var chunks = CudnnAttentionShape.Exact([0, 13], [12, 22], new PagedKv([20, 50], new int[10], 5, 10, PageSize));
        Assert.Equal(new CudnnAttentionShape(2, 22, 72, true, 5, 10, PageSize), chunks);
        Assert.Throws<ArgumentException>(() => CudnnAttentionShape.Exact([], [], null));
        Assert.Throws<ArgumentException>(() => CudnnAttentionShape.Bucket(0, 64, 0, 0, 0));
    }

    [Fact]
    public void TheMetadataLayoutIsTheOneBuildFills()
    {
        var paged = new PagedKv([20, 50], [7, 3, 0, 0, 0, 4, 8, 2, 6, 5], 5, 10, PageSize);
        var m = CudnnAttentionMetadata.Build([0, 13], [12, 22], rowWidth: 10, outputWidth: 4, paged);
        var (length, rows, outputs, table) = CudnnAttentionMetadata.Layout(2, 5);
        Assert.Equal((m.Values.Length, m.RowOffsets, m.OutputOffsets, m.PageTable), (length, rows, outputs, table));
        Assert.Equal(CudnnAttentionMetadata.Build([0, 37, 102], [37, 64, 1], 10, 4, null).Values.Length, CudnnAttentionMetadata.Layout(3, 0).Length);
    }
}

/// <summary>The least-recently-used cache the serving engine keeps its CUDA graphs and cuDNN plans in.</summary>
public class LruCacheTests
{
    private sealed class Item(string name, List<string> disposed) : IDisposable
    {
        public string Name => name;
        public void Dispose() => disposed.Add(name);
    }

    [Fact]
    public void TheLeastRecentlyUsedEntryIsDroppedAndDisposedWhenFull()
    {
        var disposed = new List<string>();
        var cache = new LruCache<int, Item>(2);
        cache.Add(1, new Item("a", disposed));
        cache.Add(2, new Item("b", disposed));
        Assert.True(cache.TryGet(1, out var a));   // 1 is now the most recent
        Assert.Equal("a", a.Name);
        cache.Add(3, new Item("c", disposed));       // drops 2
        Assert.Equal(["b"], disposed);
        Assert.False(cache.TryGet(2, out _));
        Assert.Equal([3, 1], cache.Keys);
        Assert.Equal(1, cache.Evicted);
        Assert.Equal(2, cache.Count);
    }

    [Fact]
    public void ReplacingAKeyDisposesTheOldValueWithoutEvicting()
    {
        var disposed = new List<string>();
        var cache = new LruCache<string, Item>(2);
        cache.Add("k", new Item("old", disposed));
        cache.Add("j", new Item("j", disposed));
        cache.Add("k", new Item("new", disposed));
        Assert.Equal(["old"], disposed);
        Assert.Equal(0, cache.Evicted);
        Assert.Equal(["k", "j"], cache.Keys);
        cache.Dispose();
        Assert.Equal(["old", "new", "j"], disposed);
        Assert.Equal(0, cache.Count);
    }

    [Fact]
    public void GetOrAddBuildsOnlyOnAMiss()
    {
        var disposed = new List<string>();
        var cache = new LruCache<int, Item>(4);
        var builds = 0;
        Item Build(int k) { builds++; return new Item($"#{k}", disposed); }
        var first = cache.GetOrAdd(7, Build, out var built1);
        var again = cache.GetOrAdd(7, Build, out var built2);
        Assert.True(built1);
        Assert.False(built2);
        Assert.Same(first, again);
        Assert.Equal(1, builds);
        Assert.Throws<ArgumentOutOfRangeException>(() => new LruCache<int, Item>(0));
    }

    [Fact]
    public void NeverHoldsMoreThanItsCapacityAndKeepsTheMostRecentKeys()
    {
        Prop.ForAll<int[], byte>((keys, cap) =>
        {
            var capacity = 1 + cap % 8;
            var cache = new LruCache<int, Item>(capacity);
            var disposed = new List<string>();
            foreach (var k in keys ?? []) cache.GetOrAdd(k % 16, key => new Item(key.ToString(), disposed), out _);
            var recent = (keys ?? []).Select(k => k % 16).Reverse().Distinct().Take(capacity).ToArray();
            // Every value built is held or disposed, exactly once.
            var built = (keys ?? []).Length == 0 ? 0 : cache.Count + disposed.Count;
            return cache.Count <= capacity && cache.Keys.SequenceEqual(recent) && built == cache.Count + cache.Evicted;
        }).QuickCheckThrowOnFailure();
    }
}
