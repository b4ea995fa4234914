namespace Joules.Scheduling;

/// <summary>
/// The paged KV cache a scheduler allocates from, with vLLM V1's semantics: fixed-size blocks, a free queue in
/// least-recently-freed order, and prefix caching (cached blocks stay findable while free until evicted from the
/// queue's head). Two implementations: <see cref="KvBlockManager"/> keeps real block ids (what a GPU engine's
/// block tables need) and <see cref="KvBlockAccounting"/> keeps only counts and groups (what the simulator needs,
/// without touching memory per block); the property tests check they agree.
/// </summary>
public interface IKvCache
{
    int Total { get; }
    int BlockSize { get; }
    bool PrefixCaching { get; }
    /// <summary>Blocks in the free queue (cached-but-unreferenced blocks count as free: they are evictable).</summary>
    int Free { get; }
    int PeakUsed { get; }
    /// <summary>Tokens of first admissions looked up in the prefix cache (vLLM's prefix_cache_queries: a preempted request's re-admission is counted apart).</summary>
    long QueriedTokens { get; }
    /// <summary>Of those, tokens found cached.</summary>
    long HitTokens { get; }
    /// <summary>Tokens preempted requests looked up again when re-admitted (vLLM's preempted queries).</summary>
    long PreemptedQueriedTokens { get; }
    /// <summary>Of those, tokens found cached (mostly their own blocks, kept since the preemption).</summary>
    long PreemptedHitTokens { get; }
    /// <summary>Cached blocks whose content was evicted to make room.</summary>
    long Evictions { get; }

    int BlocksFor(long tokens);
    /// <summary>Blocks a running sequence would need to hold <paramref name="newTokens"/> more tokens.</summary>
    int BlocksNeeded(in SequenceState q, long newTokens);
    /// <summary>How many leading blocks of a waiting sequence's <paramref name="tokens"/> tokens are cached (at least one token is always left to compute, as vLLM).</summary>
    int FindCachedPrefix(ref SequenceState q, int tokens);
    /// <summary>Admits a waiting sequence: takes its <paramref name="hitBlocks"/> cached blocks and blocks for <paramref name="newTokens"/> more; false, nothing changed, when the free queue cannot supply both, or could not supply blocks for <paramref name="mustFitTokens"/> tokens in all (vLLM's full-sequence admission gate; 0: no gate).</summary>
    bool TryAdmit(ref SequenceState q, int hitBlocks, int newTokens, long mustFitTokens = 0);
    /// <summary>Allocates what a running sequence needs for <paramref name="newTokens"/> more tokens; false, nothing changed, when the free queue is too short.</summary>
    bool TryGrow(ref SequenceState q, int newTokens);
    /// <summary>Releases every block a sequence holds, last block first; with <paramref name="keepForReuse"/> (a preemption) its blocks stay findable by it until evicted.</summary>
    void Release(ref SequenceState q, bool keepForReuse);
}

/// <summary>Shared rules of both KV cache implementations.</summary>
internal static class KvRules
{
    /// <summary>Blocks of a sequence's prompt that trace hashes identify: whole blocks inside the prompt and inside the hashed span.</summary>
    public static int HashedBlocks(in SequenceState q, int blockSize, int subBlocks)
    {
        if (q.HashIds is not { Length: > 0 } ids) return 0;
        return (int)Math.Min(q.Input / blockSize, (long)ids.Length * subBlocks);
    }

    /// <summary>Key of the sub-block <paramref name="sub"/> of a trace hash block; never 0 (0 marks "not registered").</summary>
    public static long Key(long hash, int sub)
    {
        var z = unchecked((ulong)hash * 0x9E3779B97F4A7C15UL + (ulong)sub * 0xBF58476D1CE4E5B9UL + 0x94D049BB133111EBUL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        z ^= z >> 31;
        return (long)(z | 1);
    }
}
