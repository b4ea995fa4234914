namespace Joules.Calibration.Engine;

/// <summary>How the work-list decode-attention kernel cuts a batch's keys into chunks: pure arithmetic, no GPU.</summary>
/// <remarks>
/// Every decode sequence's keys (its context plus the new token) are split evenly into chunks of at most one target
/// length, chosen from the batch's total keys so that there are about <see cref="ItemsPerMultiprocessor"/> (chunk,
/// item head) items per SM, but no chunk longer than <see cref="MaxChunk"/>. The cost then follows the sum of the
/// contexts whatever their spread (a batch of one long and many short sequences costs what a uniform batch of the
/// same total does), and the launch grid depends only on the batch size (blocks loop over the items when there are
/// more), so one CUDA graph serves every mix of contexts of that size. Measured on an H200 (calibration/engine/
/// decode-worklist): long items win; 8 items per SM (chunks of 60-120 keys) cost 20 % at batch 16 and 45 % on the
/// 70B shard against 2 per SM. The table the kernel reads is
/// <c>[total chunks, chunkStart[0..decodes]]</c>: decode <c>i</c> owns chunks <c>[chunkStart[i], chunkStart[i+1])</c>.
/// </remarks>
public static class DecodeWork
{
    /// <summary>Shortest target chunk (keys): below it a block's fixed cost outweighs its keys.</summary>
    public const int MinChunk = 64;
    /// <summary>Longest target chunk (keys): longer items leave too few blocks to balance a batch of spread contexts.</summary>
    public const int MaxChunk = 1024;
    /// <summary>(chunk, kv head) items aimed at per SM: each item has a fixed cost (queries, partials, the merge), so few long ones.</summary>
    public const int ItemsPerMultiprocessor = 2;

    /// <summary>Most query heads one (chunk, head) item serves by default.</summary>
    /// <remarks>A kv head with 8 query heads (the 70B's shards) as one item needs 8 queries, 8 running sums and their
    /// scores in registers: that kernel runs one block per SM and its items took 20-25 µs each on the H200 whatever
    /// their keys (70B tp8 shard, b=64 ctx=256: 6.0 ms of attention for 0.67 GB of K/V). Split into two items of 4 query
    /// heads the group runs the 8B's kernel, four blocks per SM, and the second item reads the chunk from L2.</remarks>
    public const int DefaultMaxGroup = 4;

    /// <summary>The heads items are made of: each of <paramref name="kvHeads"/> kv heads' query heads split into parts of at most <paramref name="maxGroup"/> (halving while the group divides).</summary>
    public static int ItemHeads(int heads, int kvHeads, int maxGroup)
    {
        if (kvHeads < 1 || heads % kvHeads != 0) throw new ArgumentException($"{heads} query heads cannot be grouped over {kvHeads} kv heads");
        int g = heads / kvHeads, parts = 1;
        while (g / parts > Math.Max(1, maxGroup) && g % (parts * 2) == 0) parts *= 2;
        return kvHeads * parts;
    }

    /// <summary>Ints of the table for <paramref name="decodes"/> sequences: the chunk count and decodes + 1 chunk starts.</summary>
    public static int TableLength(int decodes) => decodes + 2;

    /// <summary>Target chunk length for a batch of <paramref name="totalKeys"/> keys.</summary>
    public static int TargetChunk(long totalKeys, int kvHeads, int multiprocessors)
    {
        long items = (long)ItemsPerMultiprocessor * Math.Max(1, multiprocessors);
        long chunk = (totalKeys * kvHeads + items - 1) / items;
        return (int)Math.Clamp(chunk, MinChunk, MaxChunk);
    }

    /// <summary>The most chunks a batch of <paramref name="decodes"/> sequences holding at most <paramref name="maxTotalKeys"/> keys in all can need (partial rows per head).</summary>
    /// <remarks>Each sequence needs at most keys / target + 1 chunks; the target keeps keys / target under the larger of
    /// the items aimed at per kv head and keys / <see cref="MaxChunk"/>.</remarks>
    public static int MaxChunks(int decodes, int kvHeads, int multiprocessors, long maxTotalKeys) =>
        (int)Math.Min(int.MaxValue, decodes + Math.Max(ItemsPerMultiprocessor * (long)Math.Max(1, multiprocessors) / Math.Max(1, kvHeads),
            (maxTotalKeys + MaxChunk - 1) / MaxChunk));

    /// <summary>Blocks launched for <paramref name="decodes"/> sequences: every item of a batch whose target chunk is under <see cref="MaxChunk"/>; blocks past the last item exit, and longer batches' items are taken in turns.</summary>
    public static int Grid(int decodes, int kvHeads, int multiprocessors) => decodes * kvHeads + ItemsPerMultiprocessor * Math.Max(1, multiprocessors);

    /// <summary>Writes the table for decodes of <paramref name="kvLengths"/> keys each into <paramref name="table"/> and returns the total chunks.</summary>
    public static int Fill(ReadOnlySpan<int> kvLengths, int kvHeads, int multiprocessors, Span<int> table)
    {
        if (table.Length < TableLength(kvLengths.Length))
            throw new ArgumentException($"decode work table needs {TableLength(kvLengths.Length)} ints, got {table.Length}");
        long total = 0;
        foreach (var k in kvLengths)
        {
            if (k < 1) throw new ArgumentOutOfRangeException(nameof(kvLengths), $"a decode attends at least one key, got {k}");
            total += k;
        }
        int target = TargetChunk(total, kvHeads, multiprocessors);
        int chunks = 0;
        for (var i = 0; i < kvLengths.Length; i++)
        {
            table[1 + i] = chunks;
            chunks += (kvLengths[i] + target - 1) / target;
        }
        table[1 + kvLengths.Length] = chunks;
        table[0] = chunks;
        return chunks;
    }

    /// <summary>Keys [start, end) of chunk <paramref name="j"/> of a sequence of <paramref name="kvLength"/> keys split into <paramref name="chunks"/> chunks (as the kernel computes them).</summary>
    public static (int Start, int End) ChunkKeys(int kvLength, int chunks, int j)
    {
        int len = (kvLength + chunks - 1) / chunks;
        int start = j * len;
        return (Math.Min(start, kvLength), Math.Min(start + len, kvLength));
    }
}
