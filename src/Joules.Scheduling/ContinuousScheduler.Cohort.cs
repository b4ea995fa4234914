namespace Joules.Scheduling;

// The decode cohort (SchedulerConfig.DeferDecodes): when iterations keep mixing a few prefill chunks with many
// decodes (a router that packs load onto one instance starts a new prefill almost every iteration, so no steady
// decode run forms), the plain path touches every running sequence three times per iteration. The cohort holds the
// sequences that simply decode: each gets one token per iteration, so their token counts are "as of the step they
// joined" plus a shared step counter, the blocks they need at a step are counted by token position modulo the block
// size, their finishes come off a heap keyed by step, and what the caller charges them (energy, linear in context)
// accrues in three running sums. An iteration then costs O(prefill chunks + finishes), not O(batch).
//
// The decisions are those of the plain path: the cohort is used for an iteration only when every running sequence
// gets all the tokens it asks for and all the KV blocks it needs (then the order in which vLLM's loop visits them
// changes nothing), and no sequence in it can still register hashed prompt blocks (so block allocation is
// interchangeable). Otherwise, and before anything that needs the sequences one by one (preemption, an abort,
// Running(i)), the cohort dissolves: each member's counts are brought up to date, in O(batch) once.
public sealed partial class ContinuousScheduler
{
    /// <summary>Consecutive mixed iterations (prefill chunks riding with decodes) after which a cohort forms (it then lives through decode runs too, until an iteration needs the plain path).</summary>
    public const int CohortFormsAfter = 2;

    // Re-base the accrual sums this often (in accruals), so they stay small next to what one member accrues.
    private const int RebaseEvery = 4096;

    private readonly bool _cohortEnabled;
    private bool _cohort;
    private int _mixedStreak;
    private long _epoch;
    private int _cohortSize;
    private long _keySum;
    private long _minKey = long.MaxValue, _maxKey = long.MinValue;
    private readonly int[] _cohortHist;
    private readonly PriorityQueue<int, long> _finishes = new();
    private int[] _explicit = new int[16];
    private int _explicitCount;
    private int _dead;
    private double _accP, _accQ, _accQE;
    private int _accruals;
    private readonly List<(long Order, int Slot)> _finishing = new();
    private int[] _grants = new int[16];
    private long _maxMemberOrder = long.MinValue;

    /// <summary>Iterations scheduled with a decode cohort so far (a diagnostic: how much of a run took the deferred path).</summary>
    public long CohortIterations { get; private set; }

    /// <summary>Whether a decode cohort is active (its members' counts are deferred).</summary>
    public bool CohortActive => _cohort;

    /// <summary>Members of the active cohort (0 when none).</summary>
    public int CohortSize => _cohort ? _cohortSize : 0;

    /// <summary>Running sequences outside the cohort while one is active (prefilling, or not yet joined).</summary>
    public int ExplicitCount => _cohort ? _explicitCount : 0;
    /// <summary>The k-th running sequence outside the cohort, in admission order.</summary>
    public int Explicit(int k) => _explicit[k];

    /// <summary>Entries of the running list, finished ones included while a cohort is active (for <see cref="TryGetRunning"/>).</summary>
    public int RunningEntries => _runningCount;

    /// <summary>
    /// The i-th entry of the running list with its up-to-date computed tokens, without dissolving a cohort; false for
    /// an entry that finished while the cohort was active.
    /// </summary>
    public bool TryGetRunning(int i, out int slot, out int computed, out bool inCohort)
    {
        slot = _running[i];
        ref var q = ref Sequences[slot];
        computed = 0;
        inCohort = false;
        if (q.Status != SequenceStatus.Running || q.Id != _runningIds[i]) return false;
        inCohort = q.InCohort;
        computed = inCohort ? q.Computed + (int)(_epoch - q.CohortJoin) : q.Computed;
        return true;
    }

    /// <summary>
    /// Charges every cohort member <paramref name="p"/> + <paramref name="q"/> x its context in the current iteration
    /// (tokens in cache plus the one being computed); call before <see cref="Commit"/> of that iteration (or before
    /// <see cref="CommitDecodeRun"/>, for the context at the run's first step). Settled into <see cref="SequenceState.Accrued"/>.
    /// </summary>
    public void AccrueCohort(double p, double q)
    {
        if (!_cohort || _cohortSize == 0) return;
        _accP += p;
        _accQ += q;
        _accQE += q * _epoch;
        if (++_accruals >= RebaseEvery) Rebase();
    }

    /// <summary>Bounds on the contexts (new token included) of the cohort's members in the current iteration.</summary>
    public (long Min, long Max) CohortContextBounds => (_minKey + _epoch + 1, _maxKey + _epoch + 1);

    /// <summary>
    /// For the iteration in flight (scheduled, not committed): decode steps after it before the first member finishes,
    /// and the members' contexts summed for the step after it (new token included).
    /// </summary>
    public (long StepsLeft, long NextContextSum) CohortAfterInFlight =>
        _cohortSize == 0 ? (long.MaxValue, 0) : (FirstFinish() - _epoch, _keySum + _cohortSize * (_epoch + 2));

    private long FirstFinish() => _finishes.TryPeek(out _, out var e) ? e : long.MaxValue;

    private bool Qualifies(in SequenceState q) =>
        q.Status == SequenceStatus.Running && q.IsDecoding && !q.Done
        && q.BlockCount == Kv.BlocksFor(q.Computed)
        && (long)q.Computed + (q.Output - q.Generated) <= Config.MaxModelLen - 1
        && !_accounting!.HasUnregistered(q);

    private void FormCohort()
    {
        _cohort = true;
        _cohortSize = 0;
        _keySum = 0;
        _minKey = long.MaxValue;
        _maxKey = long.MinValue;
        Array.Clear(_cohortHist);
        _finishes.Clear();
        _explicitCount = 0;
        _dead = 0;
        _accP = _accQ = _accQE = 0;
        _accruals = 0;
        _maxMemberOrder = long.MinValue;
        var pool = Sequences;
        for (var i = 0; i < _runningCount; i++)
        {
            var s = _running[i];
            ref var q = ref pool[s];
            if (Qualifies(q)) Join(s, ref q);
            else AddExplicit(s);
        }
    }

    private void Join(int s, ref SequenceState q)
    {
        q.InCohort = true;
        q.CohortJoin = _epoch;
        if (q.RunOrder > _maxMemberOrder) _maxMemberOrder = q.RunOrder;
        q.AccruedP = _accP;
        q.AccruedQ = _accQ;
        q.AccruedQE = _accQE;
        var key = q.Computed - _epoch;
        _cohortSize++;
        _keySum += key;
        if (key < _minKey) _minKey = key;
        if (key > _maxKey) _maxKey = key;
        _cohortHist[(int)(key & (Config.BlockSize - 1))]++;
        // The step whose commit generates its last token.
        _finishes.Enqueue(s, _epoch + q.Output - q.Generated - 1);
    }

    // Brings a member's counts up to date, settles what it accrued and takes it out of the cohort's sums.
    private void Leave(ref SequenceState q)
    {
        var key = q.Computed - q.CohortJoin;
        q.Accrued += Settled(q, key);
        var d = (int)(_epoch - q.CohortJoin);
        q.Computed += d;
        q.Generated += d;
        q.BlockCount = Kv.BlocksFor(q.Computed);
        q.InCohort = false;
        _cohortSize--;
        _keySum -= key;
        _cohortHist[(int)(key & (Config.BlockSize - 1))]--;
    }

    private double Settled(in SequenceState q, long key) =>
        (_accP - q.AccruedP) + (key + 1) * (_accQ - q.AccruedQ) + (_accQE - q.AccruedQE);

    private void Rebase()
    {
        var pool = Sequences;
        for (var i = 0; i < _runningCount; i++)
        {
            ref var q = ref pool[_running[i]];
            if (q.Status != SequenceStatus.Running || q.Id != _runningIds[i] || !q.InCohort) continue;
            q.Accrued += Settled(q, q.Computed - q.CohortJoin);
            q.AccruedP = q.AccruedQ = q.AccruedQE = 0;
        }
        _accP = _accQ = _accQE = 0;
        _accruals = 0;
    }

    private void DissolveCohort()
    {
        var pool = Sequences;
        for (var i = 0; i < _runningCount; i++)
        {
            ref var q = ref pool[_running[i]];
            if (q.InCohort && q.Status == SequenceStatus.Running && q.Id == _runningIds[i]) Leave(ref q);
        }
        CompactRunning();
        _cohort = false;
        _cohortSize = 0;
        _finishes.Clear();
        _explicitCount = 0;
        _mixedStreak = 0;
    }

    private void AddExplicit(int s)
    {
        if (_explicitCount == _explicit.Length) Array.Resize(ref _explicit, _explicitCount * 2);
        _explicit[_explicitCount++] = s;
    }

    // After a plain iteration: count the mixed ones in a row.
    private void NoteStep(ScheduledBatch batch)
    {
        if (batch.PrefillEntryCount > 0 && batch.DecodeEntries >= Config.DeferDecodesMinimum) _mixedStreak++;
        else _mixedStreak = 0;
    }

    private bool TryScheduleWithCohort(ScheduledBatch batch)
    {
        var pool = Sequences;
        var accounting = _accounting!;
        var lastPosition = Config.MaxModelLen - 1;
        // Explicit sequences that now simply decode join (in admission order; the list keeps that order).
        var w = 0;
        for (var k = 0; k < _explicitCount; k++)
        {
            var s = _explicit[k];
            ref var q = ref pool[s];
            if (q.Status != SequenceStatus.Running) continue;
            if (Qualifies(q)) Join(s, ref q);
            else _explicit[w++] = s;
        }
        _explicitCount = w;

        // vLLM's loop gives running sequences their tokens in admission order while the budget lasts. Members take one
        // each; if the sequences admitted before the newest member fit in full together with all members, the budget
        // cannot run out before the last member, and the rest (admitted after every member) share what is left in
        // admission order, exactly as the loop would give it. Then who gets what does not depend on where members sit.
        var budget = Config.MaxNumBatchedTokens;
        long before = _cohortSize;
        var k0 = 0;
        for (; k0 < _explicitCount; k0++)
        {
            ref var q = ref pool[_explicit[k0]];
            if (q.RunOrder > _maxMemberOrder) break;
            before += Math.Max(0, Math.Min(q.Pending, lastPosition - q.Computed));
        }
        if (before > budget) return false;
        var remaining = budget - (int)before;
        if (_grants.Length < _explicitCount) _grants = new int[Math.Max(_explicitCount, _grants.Length * 2)];
        var cohortBlocks = _cohortSize == 0 ? 0 : _cohortHist[(int)(-_epoch & (Config.BlockSize - 1))];
        long blocks = cohortBlocks;
        for (var k = 0; k < _explicitCount; k++)
        {
            ref var q = ref pool[_explicit[k]];
            var n = Math.Min(q.Pending, lastPosition - q.Computed);
            if (k >= k0)
            {
                n = remaining > 0 ? Math.Min(n, remaining) : 0;
                if (n > 0) remaining -= n;
            }
            _grants[k] = n;
            if (n <= 0) continue;
            // Growth that registers hashed prompt blocks is not interchangeable: leave that iteration to the plain path.
            if (accounting.HasUnregistered(q)) return false;
            blocks += accounting.BlocksNeeded(q, n);
        }
        if (blocks > accounting.Free) return false;

        accounting.TakeAnonymous(cohortBlocks);
        for (var k = 0; k < _explicitCount; k++)
        {
            var n = _grants[k];
            if (n <= 0) continue;
            var s = _explicit[k];
            ref var q = ref pool[s];
            if (!accounting.TryGrow(ref q, n)) throw new InvalidOperationException("KV blocks counted free were not (decode cohort)");
            batch.Add(s, n, q.Computed, q.IsDecoding);
            q.Scheduled = n;
        }
        CohortIterations++;
        if (_cohortSize > 0)
            batch.SetCohort(_cohortSize, _keySum + _cohortSize * (_epoch + 1), _minKey + _epoch + 1, _maxKey + _epoch + 1);
        if (remaining > 0) Admit(batch, remaining);
        return true;
    }

    // The cohort's part of a commit: its step counter advances, and members whose last token this step generated
    // leave it and join the commit's finishers.
    private void CommitCohortStep()
    {
        var pool = Sequences;
        var step = _epoch++;
        while (_finishes.TryPeek(out var slot, out var at) && at <= step)
        {
            _finishes.Dequeue();
            ref var q = ref pool[slot];
            Leave(ref q);
            q.Status = SequenceStatus.Finished;
            _finishing.Add((q.RunOrder, slot));
        }
    }

    // Finished entries stay in the running list until it is worth compacting; the explicit list keeps only running ones.
    private void AfterCohortCommit(int finished)
    {
        var pool = Sequences;
        _dead += finished;
        var w = 0;
        for (var k = 0; k < _explicitCount; k++)
            if (pool[_explicit[k]].Status == SequenceStatus.Running) _explicit[w++] = _explicit[k];
        _explicitCount = w;
        if (_dead > 64 && _dead > _runningCount / 2) CompactRunning();
    }

    private bool TryPlanDecodeRunWithCohort(out int batch, out long contextSum, out int maxSteps)
    {
        batch = RunningCount;
        contextSum = 0;
        maxSteps = 0;
        if (batch == 0 || _waiting.Count > 0 || batch > Config.MaxNumBatchedTokens) return false;
        var pool = Sequences;
        long steps = int.MaxValue;
        for (var k = 0; k < _explicitCount; k++)
        {
            ref var q = ref pool[_explicit[k]];
            if (!q.IsDecoding) return false;
            contextSum += q.Computed + 1L;
            steps = Math.Min(steps, q.Output - q.Generated - 1);
            steps = Math.Min(steps, Config.MaxModelLen - 1 - q.Computed);
        }
        if (_cohortSize > 0)
        {
            contextSum += _keySum + _cohortSize * (_epoch + 1);
            // Output - generated - 1 for a member is its finishing step less the current one.
            steps = Math.Min(steps, FirstFinish() - _epoch);
        }
        if (steps < 1) return false;
        maxSteps = KvStepsThatFit((int)Math.Min(steps, int.MaxValue));
        return maxSteps >= 1;
    }

    private void CommitDecodeRunWithCohort(int steps)
    {
        _accounting!.TakeAnonymous((int)CohortBlocksNeeded(steps, 0));
        var pool = Sequences;
        for (var k = 0; k < _explicitCount; k++)
        {
            ref var q = ref pool[_explicit[k]];
            if (!Kv.TryGrow(ref q, steps)) throw new InvalidOperationException("decode run committed beyond the KV blocks it was planned for");
            q.Computed += steps;
            q.Generated += steps;
        }
        _epoch += steps;
    }

    // Blocks the members need to grow by k tokens on top of the a already scheduled: by each member's position in its
    // last block, which the histogram keeps per (tokens in cache - step) modulo the block size.
    private long CohortBlocksNeeded(int k, int a)
    {
        if (_cohortSize == 0 || k <= 0) return 0;
        var bs = Config.BlockSize;
        var mask = bs - 1;
        long need = 0;
        for (var idx = 0; idx < bs; idx++)
        {
            var count = _cohortHist[idx];
            if (count == 0) continue;
            // Tokens held (allocated for) now, modulo the block size.
            var u = (int)((idx + _epoch + a) & mask);
            need += (long)count * (Kv.BlocksFor(u + (long)k) - Kv.BlocksFor(u));
        }
        return need;
    }

    private long ExplicitBlocksNeeded(int k, int a)
    {
        long extra = 0;
        for (var i = 0; i < _explicitCount; i++) extra += Kv.BlocksNeeded(Sequences[_explicit[i]], (long)k + a);
        return extra;
    }
}
