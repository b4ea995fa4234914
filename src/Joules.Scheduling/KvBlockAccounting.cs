using System.Runtime.CompilerServices;

namespace Joules.Scheduling;

/// <summary>
/// The KV cache with vLLM V1's semantics kept as counts, for the simulator: the free queue is a FIFO of groups
/// (interchangeable blocks whose content no request can hit, a preempted sequence's own blocks, single blocks of a
/// hashed prompt) instead of a list of block ids, so allocating and freeing cost per group, not per block, and no
/// memory is touched per block. Which content is evicted, which lookups hit and how many blocks are free are the
/// same as <see cref="KvBlockManager"/>'s (a property test drives both with the same operations).
/// </summary>
/// <remarks>
/// Block ids exist only for hashed prompt blocks (shared between sequences): the sequence's block table holds the
/// index of the shared record for those positions (-1 for a private copy), nothing for the rest.
/// </remarks>
public sealed class KvBlockAccounting : IKvCache
{
    private enum Kind : byte { Dead, Anonymous, Stale, Hashed }

    private struct Entry
    {
        public Kind Kind;
        public int Count;
        public int Record;
        public long Owner;
    }

    // A hashed prompt block: its reference count, its place in the free queue while unreferenced (-1 in use), and
    // whether it holds content at all. Records come in runs, one run per trace hash id (the sub-blocks that hash
    // covers), so the hash table is consulted once per trace hash, not once per block.
    private struct Record
    {
        public int Ref;
        public long Handle;
        public bool Cached;
    }

    private Entry[] _queue = new Entry[64];
    private long _head;
    private long _tail;
    private readonly Dictionary<long, int>? _runs;
    private Record[] _records = [];
    private long[] _runHash = [];
    private int[] _runLive = [];
    private int[] _freeRuns = [];
    private int _freeRunCount;
    private int _runCount;
    private readonly int _subBlocks;
    private long _nextTag;

    public KvBlockAccounting(int totalBlocks, int blockSize, bool prefixCaching = false, int hashBlockTokens = 512)
    {
        if (totalBlocks < 1) throw new ArgumentException($"the KV cache needs at least one block, got {totalBlocks}");
        if (blockSize < 1) throw new ArgumentException($"block-size must be positive, got {blockSize}");
        Total = totalBlocks;
        BlockSize = blockSize;
        _blockShift = (blockSize & (blockSize - 1)) == 0 ? System.Numerics.BitOperations.Log2((uint)blockSize) : -1;
        PrefixCaching = prefixCaching;
        _subBlocks = Math.Max(1, hashBlockTokens / blockSize);
        if (prefixCaching) _runs = new Dictionary<long, int>();
        Push(Kind.Anonymous, totalBlocks, -1, 0);
        Free = totalBlocks;
    }

    public int Total { get; }
    public int BlockSize { get; }
    public bool PrefixCaching { get; }
    public int Free { get; private set; }
    public int PeakUsed { get; private set; }
    public long QueriedTokens { get; private set; }
    public long HitTokens { get; private set; }
    public long PreemptedQueriedTokens { get; private set; }
    public long PreemptedHitTokens { get; private set; }
    public long Evictions { get; private set; }

    // A shift where the block size is a power of two (vLLM's always is): this runs per sequence per iteration, and a
    // 64-bit division is the slowest instruction in that loop.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int BlocksFor(long tokens) => _blockShift >= 0 ? (int)((tokens + BlockSize - 1) >> _blockShift) : (int)((tokens + BlockSize - 1) / BlockSize);

    private readonly int _blockShift;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int BlocksNeeded(in SequenceState q, long newTokens) => Math.Max(0, BlocksFor(q.Computed + newTokens) - q.BlockCount);

    public int FindCachedPrefix(ref SequenceState q, int tokens)
    {
        if (!PrefixCaching || tokens <= 1) return 0;
        var maxBlocks = (tokens - 1) / BlockSize;
        var hashed = KvRules.HashedBlocks(q, BlockSize, _subBlocks);
        var hits = 0;
        var run = -1;
        while (hits < maxBlocks && hits < hashed)
        {
            var sub = hits % _subBlocks;
            if (sub == 0 || run < 0)
                if (!_runs!.TryGetValue(q.HashIds![hits / _subBlocks], out run)) return hits;
            var r = run * _subBlocks + sub;
            if (!_records[r].Cached) return hits;
            EnsureTable(ref q, hits + 1);
            q.Blocks[hits] = r;
            hits++;
        }
        if (hits < hashed) return hits;
        // Its own blocks after the hashed span, kept since a preemption: a prefix of them survives eviction.
        var own = Math.Min(StaleCount(q), Math.Max(0, q.StaleBlocks - hashed));
        return Math.Min(maxBlocks, hashed + own);
    }

    public bool TryAdmit(ref SequenceState q, int hitBlocks, int newTokens, long mustFitTokens = 0)
    {
        var computed = (long)hitBlocks * BlockSize;
        var total = BlocksFor(computed + newTokens);
        var gate = Math.Max(total, BlocksFor(mustFitTokens));
        var hashed = KvRules.HashedBlocks(q, BlockSize, _subBlocks);
        var hashedHits = Math.Min(hitBlocks, hashed);
        var ownHits = hitBlocks - hashedHits;
        var evictable = ownHits;
        for (var j = 0; j < hashedHits; j++) if (_records[q.Blocks[j]].Ref == 0) evictable++;
        if (gate - hitBlocks + evictable > Free) return false;
        if (q.OwnerTag == 0) q.OwnerTag = ++_nextTag;
        for (var j = 0; j < hashedHits; j++)
        {
            ref var rec = ref _records[q.Blocks[j]];
            if (rec.Ref++ == 0) { Kill(rec.Handle, 1); rec.Handle = -1; }
        }
        if (q.StaleHandle != 0 && IsStaleOf(q))
        {
            // The own blocks it hits leave the queue; the rest of its kept blocks can no longer be hit by anyone.
            ref var e = ref At(q.StaleHandle);
            Free -= ownHits;
            e.Count -= ownHits;
            e.Kind = e.Count > 0 ? Kind.Anonymous : Kind.Dead;
        }
        q.StaleHandle = 0;
        q.StaleBlocks = 0;
        Take(total - hitBlocks);
        q.BlockCount = total;
        if (PrefixCaching)
        {
            if (q.Preemptions == 0) { QueriedTokens += q.Input + q.Generated; HitTokens += computed; }
            else { PreemptedQueriedTokens += q.Input + q.Generated; PreemptedHitTokens += computed; }
            q.HashedDone = hashedHits;
            Register(ref q, computed + newTokens, hashed);
        }
        TrackPeak();
        return true;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryGrow(ref SequenceState q, int newTokens)
    {
        var total = BlocksFor((long)q.Computed + newTokens);
        return total <= q.BlockCount || Grow(ref q, newTokens, total);
    }

    private bool Grow(ref SequenceState q, int newTokens, int total)
    {
        var need = total - q.BlockCount;
        if (need > Free) return false;
        Take(need);
        q.BlockCount = total;
        if (PrefixCaching && q.HashIds != null) Register(ref q, (long)q.Computed + newTokens, KvRules.HashedBlocks(q, BlockSize, _subBlocks));
        TrackPeak();
        return true;
    }

    /// <summary>Whether growing <paramref name="q"/> could still register hashed prompt blocks in the prefix cache (so its growth is not interchangeable with anyone else's).</summary>
    internal bool HasUnregistered(in SequenceState q) =>
        PrefixCaching && q.HashIds != null && q.HashedDone < KvRules.HashedBlocks(q, BlockSize, _subBlocks);

    /// <summary>Allocates <paramref name="n"/> blocks that hold no hashed content, for sequences that grow together (the scheduler's decode cohort).</summary>
    internal void TakeAnonymous(int n)
    {
        if (n <= 0) return;
        Take(n);
        TrackPeak();
    }

    public void Release(ref SequenceState q, bool keepForReuse)
    {
        var n = q.BlockCount;
        var hashed = KvRules.HashedBlocks(q, BlockSize, _subBlocks);
        var done = Math.Min(q.HashedDone, n);
        // Last block first, as vLLM frees them: the tail past the hashed span (kept for the sequence itself after a
        // preemption), then unregistered blocks inside the span, then the registered ones from last to first.
        var top = Math.Max(0, n - Math.Max(hashed, done));
        var keep = keepForReuse && PrefixCaching;
        q.StaleHandle = 0;
        if (top > 0)
        {
            if (keep) q.StaleHandle = Push(Kind.Stale, top, -1, q.OwnerTag);
            else PushAnonymous(top);
        }
        var middle = n - top - done;
        if (middle > 0) PushAnonymous(middle);
        var freed = top + middle;
        for (var j = done - 1; j >= 0; j--)
        {
            var r = q.Blocks[j];
            if (r < 0) { PushAnonymous(1); freed++; continue; }
            ref var rec = ref _records[r];
            // A block another running sequence shares stays in use.
            if (--rec.Ref == 0) { rec.Handle = Push(Kind.Hashed, 1, r, 0); freed++; }
        }
        Free += freed;
        q.StaleBlocks = keep ? n : 0;
        q.BlockCount = 0;
        q.HashedDone = 0;
    }

    // Registers the hashed blocks full once `tokens` are computed: a new shared record, or a private copy when
    // another sequence registered the same content first.
    private void Register(ref SequenceState q, long tokens, int hashed)
    {
        var full = (int)Math.Min(tokens / BlockSize, hashed);
        if (full <= q.HashedDone) return;
        EnsureTable(ref q, full);
        var run = -1;
        for (var j = q.HashedDone; j < full; j++)
        {
            var sub = j % _subBlocks;
            if (sub == 0 || run < 0) run = RunFor(q.HashIds![j / _subBlocks]);
            var r = run * _subBlocks + sub;
            ref var rec = ref _records[r];
            // Content another sequence registered first: this block is a private copy, as in vLLM.
            if (rec.Cached) { q.Blocks[j] = -1; continue; }
            rec = new Record { Ref = 1, Handle = -1, Cached = true };
            _runLive[run]++;
            q.Blocks[j] = r;
        }
        q.HashedDone = full;
    }

    private int StaleCount(in SequenceState q) => q.StaleHandle != 0 && IsStaleOf(q) ? At(q.StaleHandle).Count : 0;

    private bool IsStaleOf(in SequenceState q)
    {
        if (q.StaleHandle < _head || q.StaleHandle >= _tail) return false;
        ref var e = ref At(q.StaleHandle);
        return e.Kind == Kind.Stale && e.Owner == q.OwnerTag;
    }

    // Takes n blocks from the queue's head, evicting what they held.
    private void Take(int n)
    {
        if (n <= 0) return;
        if (n > Free) throw new InvalidOperationException("KV block pool exhausted (a caller allocated without checking Free)");
        Free -= n;
        while (n > 0)
        {
            if (_head >= _tail) throw new InvalidOperationException("KV free queue is shorter than its free count (internal accounting error)");
            ref var e = ref At(_head);
            if (e.Kind == Kind.Dead || e.Count == 0) { _head++; continue; }
            var m = Math.Min(n, e.Count);
            e.Count -= m;
            n -= m;
            if (e.Kind == Kind.Hashed) Evict(e.Record);
            if (e.Count == 0) { e.Kind = Kind.Dead; _head++; }
        }
    }

    // Removes `count` blocks of the entry at `handle` from the queue (a cache hit takes them back).
    private void Kill(long handle, int count)
    {
        ref var e = ref At(handle);
        e.Count -= count;
        if (e.Count <= 0) e.Kind = Kind.Dead;
        Free -= count;
    }

    private void PushAnonymous(int count)
    {
        if (_tail > _head)
        {
            ref var last = ref At(_tail - 1);
            if (last.Kind == Kind.Anonymous) { last.Count += count; return; }
        }
        Push(Kind.Anonymous, count, -1, 0);
    }

    private long Push(Kind kind, int count, int record, long owner)
    {
        if (_tail - _head == _queue.Length) Grow();
        var h = _tail++;
        At(h) = new Entry { Kind = kind, Count = count, Record = record, Owner = owner };
        return h;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ref Entry At(long handle) => ref _queue[handle & (_queue.Length - 1)];

    private void Grow()
    {
        var bigger = new Entry[_queue.Length * 2];
        for (var h = _head; h < _tail; h++) bigger[h & (bigger.Length - 1)] = _queue[h & (_queue.Length - 1)];
        _queue = bigger;
    }

    // The run of records of a trace hash id, created empty when it is new.
    private int RunFor(long hash)
    {
        if (_runs!.TryGetValue(hash, out var run)) return run;
        if (_freeRunCount > 0) run = _freeRuns[--_freeRunCount];
        else
        {
            run = _runCount++;
            if (run == _runHash.Length)
            {
                var n = Math.Max(16, _runHash.Length * 2);
                Array.Resize(ref _runHash, n);
                Array.Resize(ref _runLive, n);
                Array.Resize(ref _freeRuns, n);
                Array.Resize(ref _records, n * _subBlocks);
            }
        }
        _runHash[run] = hash;
        _runLive[run] = 0;
        _records.AsSpan(run * _subBlocks, _subBlocks).Clear();
        _runs[hash] = run;
        return run;
    }

    // A hashed block's content leaves the cache; a run with no content left leaves the hash table.
    private void Evict(int r)
    {
        _records[r].Cached = false;
        Evictions++;
        var run = r / _subBlocks;
        if (--_runLive[run] > 0) return;
        _runs!.Remove(_runHash[run]);
        _freeRuns[_freeRunCount++] = run;
    }

    private static void EnsureTable(ref SequenceState q, int blocks)
    {
        if (q.Blocks.Length >= blocks) return;
        var n = Math.Max(16, q.Blocks.Length);
        while (n < blocks) n *= 2;
        Array.Resize(ref q.Blocks, n);
    }

    private void TrackPeak()
    {
        var used = Total - Free;
        if (used > PeakUsed) PeakUsed = used;
    }
}
