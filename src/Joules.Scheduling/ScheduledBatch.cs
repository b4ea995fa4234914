using Joules.Profiles;

namespace Joules.Scheduling;

/// <summary>What happened to a scheduled sequence when its iteration finished.</summary>
[Flags]
public enum StepOutcome : byte
{
    None = 0,
    /// <summary>The iteration sampled a token for it.</summary>
    Token = 1,
    /// <summary>That token was its first.</summary>
    FirstToken = 2,
    /// <summary>That token was its last: the sequence finished and its blocks are freed.</summary>
    Finished = 4,
}

/// <summary>
/// One iteration as the scheduler formed it: which sequences run how many new tokens on top of how many
/// cached ones, which were preempted or newly admitted, and the aggregate shape a cost model prices. The
/// same object is reused every iteration (no allocation in the loop).
/// </summary>
public sealed class ScheduledBatch
{
    private int[] _slots = new int[64];
    private int[] _tokens = new int[64];
    private int[] _context = new int[64];
    private StepOutcome[] _outcome = new StepOutcome[64];
    private int[] _hits = new int[64];
    private bool[] _decode = new bool[64];
    private int[] _admitted = new int[16];
    private int[] _preempted = new int[16];
    private int[] _finished = new int[16];
    private int[] _prefillEntries = new int[16];

    /// <summary>Sequences in the iteration.</summary>
    public int Count { get; private set; }
    public int Slot(int i) => _slots[i];
    /// <summary>New tokens of the i-th sequence (1 for a decode step).</summary>
    public int Tokens(int i) => _tokens[i];
    /// <summary>Tokens already cached before the i-th sequence's new ones.</summary>
    public int ContextBefore(int i) => _context[i];
    /// <summary>What the iteration did for the i-th sequence; set by the scheduler's commit.</summary>
    public StepOutcome Outcome(int i) => _outcome[i];
    /// <summary>Tokens the i-th sequence found in the prefix cache when it was admitted in this iteration (0 otherwise).</summary>
    public int HitTokens(int i) => _hits[i];
    /// <summary>Whether the i-th sequence runs a decode step (priced as a decode, not as a one-token prefill chunk).</summary>
    public bool IsDecode(int i) => _decode[i];

    /// <summary>Sequences the last commit finished and returned (static batching returns a whole batch at once).</summary>
    public int FinishedCount { get; private set; }
    public int Finished(int i) => _finished[i];

    /// <summary>Sequences that left the waiting queue in this iteration (first admission or re-admission after preemption).</summary>
    public int AdmittedCount { get; private set; }
    public int Admitted(int i) => _admitted[i];
    /// <summary>Sequences preempted while forming this iteration.</summary>
    public int PreemptedCount { get; private set; }
    public int Preempted(int i) => _preempted[i];
    /// <summary>Prompt or recomputation tokens that admissions in this iteration found in the prefix cache instead of computing.</summary>
    public long CacheHitTokens { get; private set; }
    /// <summary>Sum of new tokens (the cohort's included).</summary>
    public long TotalTokens { get; private set; }
    /// <summary>Static batching: finished members still running as padding (they cost compute, produce nothing).</summary>
    public int PaddingSequences { get; private set; }
    /// <summary>The aggregate shape the cost model prices (padding included).</summary>
    // Kept as loose sums and assembled on read: Add runs once per sequence per iteration, and rebuilding a 48-byte
    // record struct there costs more than the sums themselves.
    public IterationShape Shape => new(_prefillSeqs, _prefillTokens, _prefillContext, _prefillPairs, _decodeSeqs, _decodeContext);

    /// <summary>Decode entries (padding excluded).</summary>
    public int DecodeEntries { get; private set; }
    /// <summary>Context (new token included) summed over the decode entries (padding excluded).</summary>
    public long DecodeEntryContext { get; private set; }
    /// <summary>Entries that are not decodes (prefill chunks), so per-chunk work can skip the decodes.</summary>
    public int PrefillEntryCount { get; private set; }
    /// <summary>Index in the batch of the k-th prefill entry.</summary>
    public int PrefillEntry(int k) => _prefillEntries[k];

    /// <summary>Smallest context (new token included) of the iteration's decode entries (padding excluded); long.MaxValue when none.</summary>
    public long DecodeContextMin { get; private set; } = long.MaxValue;
    /// <summary>Largest context (new token included) of the iteration's decode entries (padding excluded); long.MinValue when none.</summary>
    public long DecodeContextMax { get; private set; } = long.MinValue;

    private int _prefillSeqs, _decodeSeqs;
    private long _prefillTokens, _prefillContext, _decodeContext;
    private double _prefillPairs;

    public bool IsEmpty => Count == 0 && PaddingSequences == 0 && CohortSize == 0;

    /// <summary>Decodes of the scheduler's decode cohort in this iteration: one token each, not listed as entries (see <see cref="SchedulerConfig.DeferDecodes"/>).</summary>
    public int CohortSize { get; private set; }
    /// <summary>The cohort's contexts (new token included) summed.</summary>
    public long CohortContext { get; private set; }
    /// <summary>Bounds on the cohort's contexts (new token included): no member's is below the first or above the second.</summary>
    public long CohortContextMin { get; private set; }
    public long CohortContextMax { get; private set; }

    internal void SetCohort(int size, long contextSum, long minBound, long maxBound)
    {
        CohortSize = size;
        CohortContext = contextSum;
        CohortContextMin = minBound;
        CohortContextMax = maxBound;
        TotalTokens += size;
        _decodeSeqs += size;
        _decodeContext += contextSum;
    }

    public void Clear()
    {
        Count = 0;
        AdmittedCount = 0;
        PreemptedCount = 0;
        CacheHitTokens = 0;
        TotalTokens = 0;
        PaddingSequences = 0;
        FinishedCount = 0;
        _prefillSeqs = _decodeSeqs = 0;
        _prefillTokens = _prefillContext = _decodeContext = 0;
        _prefillPairs = 0;
        DecodeContextMin = long.MaxValue;
        DecodeContextMax = long.MinValue;
        DecodeEntries = 0;
        DecodeEntryContext = 0;
        PrefillEntryCount = 0;
        CohortSize = 0;
        CohortContext = 0;
    }

    // Runs once per sequence per iteration: kept small enough to inline, the growth out of line.
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    internal void Add(int slot, int tokens, int contextBefore, bool decode, int hitTokens = 0)
    {
        if (Count == _slots.Length) Grow();
        _hits[Count] = hitTokens;
        _decode[Count] = decode;
        _slots[Count] = slot;
        _tokens[Count] = tokens;
        _context[Count] = contextBefore;
        _outcome[Count] = StepOutcome.None;
        Count++;
        TotalTokens += tokens;
        if (decode)
        {
            long context = contextBefore + 1L;
            AddDecodeContext(context);
            DecodeEntries++;
            DecodeEntryContext += context;
            if (context < DecodeContextMin) DecodeContextMin = context;
            if (context > DecodeContextMax) DecodeContextMax = context;
        }
        else
        {
            if (PrefillEntryCount == _prefillEntries.Length) Array.Resize(ref _prefillEntries, PrefillEntryCount * 2);
            _prefillEntries[PrefillEntryCount++] = Count - 1;
            // Same sums as IterationShape.AddPrefill.
            _prefillSeqs++;
            _prefillTokens += tokens;
            _prefillContext += contextBefore;
            _prefillPairs += tokens * (double)contextBefore + tokens * (tokens + 1.0) / 2.0;
        }
    }

    private void Grow()
    {
        var n = Count * 2;
        Array.Resize(ref _slots, n);
        Array.Resize(ref _tokens, n);
        Array.Resize(ref _context, n);
        Array.Resize(ref _outcome, n);
        Array.Resize(ref _hits, n);
        Array.Resize(ref _decode, n);
    }

    internal void AddPadding(int contextBefore)
    {
        PaddingSequences++;
        AddDecodeContext(contextBefore + 1L);
    }

    private void AddDecodeContext(long context)
    {
        _decodeSeqs++;
        _decodeContext += context;
    }

    internal void MarkAdmitted(int slot, int hitTokens)
    {
        if (AdmittedCount == _admitted.Length) Array.Resize(ref _admitted, AdmittedCount * 2);
        _admitted[AdmittedCount++] = slot;
        CacheHitTokens += hitTokens;
    }

    internal void MarkPreempted(int slot)
    {
        if (PreemptedCount == _preempted.Length) Array.Resize(ref _preempted, PreemptedCount * 2);
        _preempted[PreemptedCount++] = slot;
    }

    internal void SetOutcome(int i, StepOutcome o) => _outcome[i] = o;

    internal void MarkFinished(int slot)
    {
        if (FinishedCount == _finished.Length) Array.Resize(ref _finished, FinishedCount * 2);
        _finished[FinishedCount++] = slot;
    }

    internal void ClearFinished() => FinishedCount = 0;
}
