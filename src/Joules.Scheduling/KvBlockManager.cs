using System.Runtime.CompilerServices;

namespace Joules.Scheduling;

/// <summary>
/// The paged KV cache of one engine with real block ids, as vLLM V1's block pool keeps it: fixed-size blocks with reference
/// counts, a free queue in least-recently-freed order, and (with prefix caching) cached blocks that stay
/// findable while they sit free until the allocator evicts them from the queue's head.
/// </summary>
/// <remarks>
/// Two kinds of cache hit exist. Blocks of a prompt that carries trace block hashes (Mooncake's
/// <c>hash_ids</c>, one per <see cref="SchedulerConfig.HashBlockTokens"/> tokens, identical ids meaning an
/// identical prefix) are registered under a key derived from the hash and the block's place inside the
/// hashed span, so any request with the same prefix finds them. Every other block holds tokens only its own
/// request has (a trace without hashes carries no token ids to compare), so only that request can hit it:
/// after a preemption it finds its own blocks again if they were not evicted meanwhile, which is what vLLM's
/// token-hash lookup amounts to for unique prompts. The second kind needs no hash table: a block remembers
/// which sequence (<see cref="SequenceState.OwnerTag"/>) and position it holds until it is reallocated.
/// </remarks>
public sealed class KvBlockManager : IKvCache
{
    private readonly int[] _ref;
    private readonly long[] _owner;
    private readonly int[] _position;
    private readonly long[] _key;
    // Free queue: a doubly linked list through _prev/_next with the sentinel at index Total.
    private readonly int[] _prev;
    private readonly int[] _next;
    private readonly Dictionary<long, int>? _cached;
    private readonly int _subBlocks;
    private long _nextTag;

    public KvBlockManager(int totalBlocks, int blockSize, bool prefixCaching = false, int hashBlockTokens = 512)
    {
        if (totalBlocks < 1) throw new ArgumentException($"the KV cache needs at least one block, got {totalBlocks}");
        if (blockSize < 1) throw new ArgumentException($"block-size must be positive, got {blockSize}");
        Total = totalBlocks;
        BlockSize = blockSize;
        _blockShift = (blockSize & (blockSize - 1)) == 0 ? System.Numerics.BitOperations.Log2((uint)blockSize) : -1;
        PrefixCaching = prefixCaching;
        _subBlocks = Math.Max(1, hashBlockTokens / blockSize);
        _ref = new int[totalBlocks];
        _owner = new long[totalBlocks];
        _position = new int[totalBlocks];
        _key = new long[totalBlocks];
        _prev = new int[totalBlocks + 1];
        _next = new int[totalBlocks + 1];
        for (var b = 0; b <= totalBlocks; b++)
        {
            _next[b] = b == totalBlocks ? 0 : b + 1;
            _prev[b] = b == 0 ? totalBlocks : b - 1;
        }
        _prev[totalBlocks] = totalBlocks - 1;
        _owner.AsSpan().Fill(-1);
        Free = totalBlocks;
        if (prefixCaching) _cached = new Dictionary<long, int>();
    }

    public int Total { get; }
    public int BlockSize { get; }
    public bool PrefixCaching { get; }
    /// <summary>Blocks in the free queue (cached-but-unreferenced blocks count as free: they are evictable).</summary>
    public int Free { get; private set; }
    public int Used => Total - Free;
    public int PeakUsed { get; private set; }
    /// <summary>Fraction of blocks in use (vLLM's kv_cache_usage).</summary>
    public double Usage => (double)Used / Total;
    /// <summary>Tokens of admitted sequences looked up in the prefix cache.</summary>
    public long QueriedTokens { get; private set; }
    /// <summary>Of those, tokens found cached.</summary>
    public long HitTokens { get; private set; }
    public long PreemptedQueriedTokens { get; private set; }
    public long PreemptedHitTokens { get; private set; }
    /// <summary>Cached blocks evicted from the free queue to make room.</summary>
    public long Evictions { get; private set; }

    // A shift where the block size is a power of two (vLLM's always is): this runs per sequence per iteration, and a
    // 64-bit division is the slowest instruction in that loop.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int BlocksFor(long tokens) => _blockShift >= 0 ? (int)((tokens + BlockSize - 1) >> _blockShift) : (int)((tokens + BlockSize - 1) / BlockSize);

    private readonly int _blockShift;

    /// <summary>A new owner tag for a sequence's first admission.</summary>
    public long NewOwner() => ++_nextTag;

    /// <summary>Reference count of a block (for tests and the serving engine's checks).</summary>
    public int RefCount(int block) => _ref[block];

    /// <summary>
    /// How many leading blocks of a waiting sequence's <paramref name="tokens"/> tokens are cached; writes their
    /// ids into its block table. At least one token is always left to compute (as vLLM), so the last token's
    /// logits exist.
    /// </summary>
    public int FindCachedPrefix(ref SequenceState q, int tokens)
    {
        if (!PrefixCaching || tokens <= 1) return 0;
        var maxBlocks = (tokens - 1) / BlockSize;
        var hashed = HashedBlocks(q);
        var hits = 0;
        for (var j = 0; j < maxBlocks; j++)
        {
            int b;
            if (j < hashed)
            {
                if (!_cached!.TryGetValue(Key(q.HashIds![j / _subBlocks], j % _subBlocks), out b)) break;
            }
            else
            {
                if (j >= q.StaleBlocks) break;
                b = q.Blocks[j];
                if (_owner[b] != q.OwnerTag || _position[b] != j) break;
            }
            q.Blocks[j] = b;
            hits++;
        }
        return hits;
    }

    /// <summary>
    /// Admits a waiting sequence: takes its <paramref name="hitBlocks"/> cached blocks and allocates blocks for
    /// <paramref name="newTokens"/> more tokens after them, or changes nothing and returns false when the free
    /// queue cannot supply both (a cached block that sits free counts against it, as in vLLM).
    /// </summary>
    public bool TryAdmit(ref SequenceState q, int hitBlocks, int newTokens, long mustFitTokens = 0)
    {
        var computed = (long)hitBlocks * BlockSize;
        var total = BlocksFor(computed + newTokens);
        var gate = Math.Max(total, BlocksFor(mustFitTokens));
        var evictable = 0;
        for (var j = 0; j < hitBlocks; j++) if (_ref[q.Blocks[j]] == 0) evictable++;
        if (gate - hitBlocks + evictable > Free) return false;
        if (q.OwnerTag == 0) q.OwnerTag = NewOwner();
        EnsureTable(ref q, total);
        for (var j = 0; j < hitBlocks; j++)
        {
            var b = q.Blocks[j];
            if (_ref[b]++ == 0) Unlink(b);
        }
        for (var j = hitBlocks; j < total; j++) q.Blocks[j] = Take(q.OwnerTag, j);
        q.BlockCount = total;
        q.StaleBlocks = 0;
        if (PrefixCaching)
        {
            var tokens = q.Input + q.Generated;
            if (q.Preemptions == 0) { QueriedTokens += tokens; HitTokens += computed; }
            else { PreemptedQueriedTokens += tokens; PreemptedHitTokens += computed; }
            q.HashedDone = Math.Min(hitBlocks, HashedBlocks(q));
            Register(ref q, computed + newTokens);
        }
        TrackPeak();
        return true;
    }

    /// <summary>Allocates what a running sequence needs to hold <paramref name="newTokens"/> more tokens; false (nothing changed) when the free queue is too short.</summary>
    public bool TryGrow(ref SequenceState q, int newTokens)
    {
        var total = BlocksFor((long)q.Computed + newTokens);
        var need = total - q.BlockCount;
        if (need <= 0) return true;
        if (need > Free) return false;
        EnsureTable(ref q, total);
        for (var j = q.BlockCount; j < total; j++) q.Blocks[j] = Take(q.OwnerTag, j);
        q.BlockCount = total;
        if (PrefixCaching) Register(ref q, (long)q.Computed + newTokens);
        TrackPeak();
        return true;
    }

    /// <summary>Blocks a running sequence would need to hold <paramref name="newTokens"/> more tokens.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int BlocksNeeded(in SequenceState q, long newTokens) => Math.Max(0, BlocksFor(q.Computed + newTokens) - q.BlockCount);

    /// <summary>Releases every block a sequence holds, last block first (so a request's tail is evicted before its shareable head, as vLLM).</summary>
    public void Release(ref SequenceState q, bool keepForReuse)
    {
        for (var j = q.BlockCount - 1; j >= 0; j--)
        {
            var b = q.Blocks[j];
            if (--_ref[b] == 0) Append(b);
        }
        q.StaleBlocks = keepForReuse && PrefixCaching ? q.BlockCount : 0;
        q.BlockCount = 0;
        q.HashedDone = 0;
    }

    private int HashedBlocks(in SequenceState q) => KvRules.HashedBlocks(q, BlockSize, _subBlocks);

    // Registers the hashed blocks that are full once `tokens` tokens are computed and were not registered yet.
    private void Register(ref SequenceState q, long tokens)
    {
        var hashed = HashedBlocks(q);
        var full = (int)Math.Min(tokens / BlockSize, hashed);
        for (var j = q.HashedDone; j < full; j++)
        {
            var key = Key(q.HashIds![j / _subBlocks], j % _subBlocks);
            var b = q.Blocks[j];
            if (_key[b] != 0) continue;
            if (_cached!.TryAdd(key, b)) _key[b] = key;
        }
        if (full > q.HashedDone) q.HashedDone = full;
    }

    private void EnsureTable(ref SequenceState q, int blocks)
    {
        if (q.Blocks.Length >= blocks) return;
        var n = q.Blocks.Length;
        while (n < blocks) n *= 2;
        Array.Resize(ref q.Blocks, n);
    }

    private int Take(long owner, int position)
    {
        var b = _next[Total];
        if (b == Total) throw new InvalidOperationException("KV block pool exhausted (a caller allocated without checking Free)");
        Unlink(b);
        if (_key[b] != 0)
        {
            _cached!.Remove(_key[b]);
            _key[b] = 0;
            Evictions++;
        }
        _ref[b] = 1;
        _owner[b] = owner;
        _position[b] = position;
        return b;
    }

    private void Unlink(int b)
    {
        _next[_prev[b]] = _next[b];
        _prev[_next[b]] = _prev[b];
        Free--;
    }

    private void Append(int b)
    {
        var tail = _prev[Total];
        _next[tail] = b;
        _prev[b] = tail;
        _next[b] = Total;
        _prev[Total] = b;
        Free++;
    }

    private void TrackPeak()
    {
        var used = Total - Free;
        if (used > PeakUsed) PeakUsed = used;
    }

    private static long Key(long hash, int sub) => KvRules.Key(hash, sub);
}
