namespace Joules.Scheduling;

/// <summary>Where a sequence is in its life.</summary>
public enum SequenceStatus : byte
{
    /// <summary>Queued, not holding KV blocks (new, or preempted and waiting to be recomputed).</summary>
    Waiting,
    /// <summary>Admitted: holds KV blocks and is scheduled every iteration it can be.</summary>
    Running,
    /// <summary>Every output token generated; its blocks are freed.</summary>
    Finished,
}

/// <summary>
/// The scheduler's view of one request: token counts and its KV block table. What a sequence knows
/// is only what a real engine knows: its prompt, how many tokens it has generated so far and its
/// output limit (max_tokens); nothing about time.
/// </summary>
public struct SequenceState
{
    /// <summary>The request's id (unique in the trace).</summary>
    public long Id;
    /// <summary>Prompt tokens.</summary>
    public int Input;
    /// <summary>Tokens to generate (max_tokens with EOS ignored, as a trace replay sends them).</summary>
    public int Output;
    /// <summary>Tokens generated so far.</summary>
    public int Generated;
    /// <summary>Tokens whose KV is in the cache (prompt and generated; reset to 0 by a preemption).</summary>
    public int Computed;
    /// <summary>Most prompt tokens ever computed (recomputation after a preemption is not new prompt work).</summary>
    public int PromptDone;
    /// <summary>Tokens scheduled in the current iteration.</summary>
    public int Scheduled;
    /// <summary>Times it was preempted.</summary>
    public int Preemptions;
    /// <summary>Prompt tokens its first admission found in the prefix cache.</summary>
    public int CachedPromptTokens;
    /// <summary>Tokens found in the prefix cache over all its admissions (first admission and re-admissions after preemption).</summary>
    public int CacheHitTokens;
    public SequenceStatus Status;
    /// <summary>Trace block hashes of the prompt (one per <see cref="SchedulerConfig.HashBlockTokens"/> tokens), or null.</summary>
    public long[]? HashIds;
    /// <summary>KV block ids in token order; the first <see cref="BlockCount"/> are held.</summary>
    public int[] Blocks;
    public int BlockCount;
    /// <summary>Block-table entries kept from before a preemption, candidates for its own cache hits.</summary>
    public int StaleBlocks;
    /// <summary>Identifies this sequence's blocks in the block pool (for reusing its own blocks after a preemption).</summary>
    public long OwnerTag;
    /// <summary>Leading hashed blocks already registered in (or found in) the prefix cache.</summary>
    public int HashedDone;
    /// <summary>Where its blocks kept after a preemption sit in the free queue (<see cref="KvBlockAccounting"/> only).</summary>
    public long StaleHandle;
    /// <summary>
    /// Whether it is in the scheduler's decode cohort: then <see cref="Computed"/> and <see cref="Generated"/> (and the
    /// block count) are as of <see cref="CohortJoin"/> and advance with the cohort's step counter; the scheduler brings
    /// them up to date before anything else reads them (see <see cref="ContinuousScheduler"/>).
    /// </summary>
    public bool InCohort;
    /// <summary>Position of its latest admission among all admissions (the running list's order).</summary>
    public long RunOrder;
    /// <summary>The cohort step at which it joined.</summary>
    public long CohortJoin;
    /// <summary>What the caller accrued to it through the cohort (the simulator: energy), settled when it leaves the cohort.</summary>
    public double Accrued;
    /// <summary>The cohort's accrual sums when it joined (or when they were last re-based).</summary>
    public double AccruedP, AccruedQ, AccruedQE;

    /// <summary>Tokens that still have to pass through the model before the next token can be sampled.</summary>
    public readonly int Pending => Input + Generated - Computed;

    /// <summary>Every output token generated.</summary>
    public readonly bool Done => Generated >= Output;

    /// <summary>A plain decode step: one new token over a cache that already holds every earlier token.</summary>
    public readonly bool IsDecoding => Generated > 0 && Pending == 1;
}

/// <summary>Sequences of one engine in a pooled struct array; slots are reused, so the iteration loop does not allocate.</summary>
public sealed class SequencePool
{
    private SequenceState[] _items = new SequenceState[64];
    private int[] _free = new int[64];
    private int _freeCount;
    private int _highWater;

    /// <summary>Sequences held (waiting, running, or finished and not yet released).</summary>
    public int Count { get; private set; }

    /// <summary>Slots ever used; arrays indexed by slot need at least this length.</summary>
    public int Capacity => _items.Length;

    public ref SequenceState this[int slot] => ref _items[slot];

    /// <summary>Takes a slot for a new sequence (its block-table array is kept from the slot's last use).</summary>
    public int Add(long id, int input, int output, long[]? hashIds)
    {
        int s;
        if (_freeCount > 0) s = _free[--_freeCount];
        else
        {
            s = _highWater++;
            if (s >= _items.Length)
            {
                Array.Resize(ref _items, _items.Length * 2);
                Array.Resize(ref _free, _items.Length);
            }
        }
        Count++;
        ref var q = ref _items[s];
        var blocks = q.Blocks ?? new int[16];
        q = default;
        q.Blocks = blocks;
        q.Id = id;
        q.Input = input;
        q.Output = output;
        q.HashIds = hashIds;
        return s;
    }

    /// <summary>Returns a finished sequence's slot to the pool.</summary>
    public void Release(int slot)
    {
        _items[slot].HashIds = null;
        Count--;
        _free[_freeCount++] = slot;
    }
}
