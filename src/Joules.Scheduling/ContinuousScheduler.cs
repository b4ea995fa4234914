namespace Joules.Scheduling;

/// <summary>
/// vLLM V1's scheduler (FCFS policy): iteration-level batching under a token budget, chunked prefill,
/// paged KV with preemption by recomputation, and prefix caching.
/// </summary>
/// <remarks>
/// Each iteration, as <c>vllm/v1/core/sched/scheduler.py</c> does it:
/// <list type="number">
/// <item>Running sequences in admission order each get min(pending tokens, remaining budget) new tokens (1 for a
///   decode, the next chunk for a prompt still prefilling). When the KV blocks for them cannot be allocated the
///   <b>newest running sequence is preempted</b> (its blocks freed, back to the head of the waiting queue, its
///   computed tokens reset to 0) and the allocation retried; if the sequence itself was the newest it is the one
///   preempted and the loop stops.</item>
/// <item>Only if nothing was preempted: waiting sequences are admitted FCFS while the budget lasts and fewer than
///   max_num_seqs run. A sequence's cached prefix is looked up first; its chunk is min(uncached tokens, budget)
///   (without chunked prefill, a prompt that does not fit the remaining budget stops admission). If the KV blocks
///   for that whole chunk cannot be allocated, admission stops for this iteration: a chunk is never shrunk to the
///   free KV.</item>
/// </list>
/// A preempted sequence is recomputed from scratch (prompt plus the tokens generated so far), reusing whatever of
/// its blocks is still cached.
/// </remarks>
public sealed partial class ContinuousScheduler : IBatchScheduler
{
    private readonly SlotDeque _waiting = new();
    // Running sequences in admission order (with their request ids: while a decode cohort is active, finished entries
    // stay until the next compaction and their slot may already hold a new request).
    private int[] _running = new int[64];
    private long[] _runningIds = new long[64];
    private int _runningCount;
    private long _admissions;
    private readonly KvBlockAccounting? _accounting;

    public ContinuousScheduler(SchedulerConfig config, IKvCache kv, SequencePool? sequences = null)
    {
        config.Validate();
        if (kv.BlockSize != config.BlockSize) throw new ArgumentException($"KV block size {kv.BlockSize} differs from the scheduler's block-size {config.BlockSize}");
        Config = config;
        Kv = kv;
        _accounting = kv as KvBlockAccounting;
        Sequences = sequences ?? new SequencePool();
        _cohortEnabled = config.DeferDecodes && _accounting != null && (config.BlockSize & (config.BlockSize - 1)) == 0;
        _cohortHist = new int[config.BlockSize];
    }

    public SchedulerConfig Config { get; }
    public SequencePool Sequences { get; }
    public IKvCache Kv { get; }
    /// <summary>Sequences running (admitted and not finished).</summary>
    public int RunningCount => _runningCount - _dead;
    public int WaitingCount => _waiting.Count;
    /// <summary>The i-th running sequence in admission order (brings a decode cohort up to date first: see <see cref="SchedulerConfig.DeferDecodes"/>).</summary>
    public int Running(int i)
    {
        if (_cohort) DissolveCohort();
        return _running[i];
    }
    /// <summary>The i-th waiting sequence from the head of the queue.</summary>
    public int Waiting(int i) => _waiting[i];
    /// <summary>Preemptions so far.</summary>
    public long Preemptions { get; private set; }

    public void AddWaiting(int slot)
    {
        Sequences[slot].Status = SequenceStatus.Waiting;
        _waiting.PushBack(slot);
    }

    public void Schedule(ScheduledBatch batch)
    {
        batch.Clear();
        if (_cohortEnabled)
        {
            if (!_cohort && _mixedStreak >= CohortFormsAfter) FormCohort();
            if (_cohort)
            {
                if (TryScheduleWithCohort(batch)) return;
                DissolveCohort();
                batch.Clear();
            }
        }
        var pool = Sequences;
        var budget = Config.MaxNumBatchedTokens;
        var lastPosition = Config.MaxModelLen - 1;
        var preempted = false;
        // The simulator's block accounting is a sealed class: calling it directly lets the JIT inline the common case
        // (the sequence's last block has room) in this loop, which runs once per running sequence per iteration.
        var accounting = _accounting;

        for (var i = 0; i < _runningCount && budget > 0;)
        {
            var s = _running[i];
            ref var q = ref pool[s];
            var n = Math.Min(q.Pending, budget);
            n = Math.Min(n, lastPosition - q.Computed);
            if (n <= 0) { i++; continue; }
            var scheduled = false;
            while (true)
            {
                if (accounting != null ? accounting.TryGrow(ref q, n) : Kv.TryGrow(ref q, n)) { scheduled = true; break; }
                var victim = _running[--_runningCount];
                Preempt(victim, batch);
                preempted = true;
                if (victim == s) break;
            }
            if (!scheduled) break;
            batch.Add(s, n, q.Computed, q.IsDecoding);
            q.Scheduled = n;
            budget -= n;
            i++;
        }

        if (preempted) { _mixedStreak = 0; return; }
        Admit(batch, budget);
        if (_cohortEnabled) NoteStep(batch);
    }

    // FCFS admission while the budget lasts (both paths).
    private void Admit(ScheduledBatch batch, int budget)
    {
        var pool = Sequences;
        while (_waiting.Count > 0 && budget > 0 && RunningCount < Config.MaxNumSeqs)
        {
            var s = _waiting.PeekFront();
            ref var q = ref pool[s];
            var tokens = q.Input + q.Generated;
            var hits = Kv.FindCachedPrefix(ref q, tokens);
            var computed = hits * Kv.BlockSize;
            var n = tokens - computed;
            if (!Config.ChunkedPrefill && n > budget) break;
            n = Math.Min(n, budget);
            // vLLM's scheduler_reserve_full_isl: the whole sequence so far must fit, not only this first chunk.
            if (!Kv.TryAdmit(ref q, hits, n, Config.ReserveFullIsl ? Math.Min(tokens, Config.MaxModelLen) : 0)) break;
            _waiting.PopFront();
            AddRunning(s);
            q.Status = SequenceStatus.Running;
            q.Computed = computed;
            if (q.Preemptions == 0) q.CachedPromptTokens = Math.Min(computed, q.Input);
            q.CacheHitTokens += computed;
            q.Scheduled = n;
            batch.Add(s, n, computed, q.IsDecoding, computed);
            batch.MarkAdmitted(s, computed);
            budget -= n;
        }
    }

    private void Preempt(int s, ScheduledBatch batch)
    {
        ref var q = ref Sequences[s];
        Kv.Release(ref q, keepForReuse: true);
        q.Computed = 0;
        q.Scheduled = 0;
        q.Preemptions++;
        q.Status = SequenceStatus.Waiting;
        Preemptions++;
        _waiting.PushFront(s);
        batch.MarkPreempted(s);
    }

    public void Commit(ScheduledBatch batch)
    {
        var pool = Sequences;
        batch.ClearFinished();
        _finishing.Clear();
        for (var e = 0; e < batch.Count; e++)
        {
            var slot = batch.Slot(e);
            ref var q = ref pool[slot];
            q.Computed += batch.Tokens(e);
            q.Scheduled = 0;
            if (q.Computed > q.PromptDone) q.PromptDone = Math.Min(q.Computed, q.Input);
            if (q.Computed != q.Input + q.Generated) continue;
            q.Generated++;
            var o = StepOutcome.Token;
            if (q.Generated == 1) o |= StepOutcome.FirstToken;
            if (q.Done)
            {
                o |= StepOutcome.Finished;
                q.Status = SequenceStatus.Finished;
                _finishing.Add((q.RunOrder, slot));
            }
            batch.SetOutcome(e, o);
        }
        if (_cohort && batch.CohortSize > 0) CommitCohortStep();
        // Blocks go back in running order, as vLLM frees them: it decides which cached content the free queue evicts
        // first. Entries are in running order already; the cohort's finishers join them by admission order.
        if (_cohort && _finishing.Count > 1) _finishing.Sort();
        foreach (var (_, slot) in _finishing)
        {
            Kv.Release(ref pool[slot], keepForReuse: false);
            batch.MarkFinished(slot);
        }
        if (_cohort) AfterCohortCommit(_finishing.Count);
        else if (_finishing.Count > 0) CompactRunning();
    }

    public void ReleaseFinished(ScheduledBatch batch)
    {
        for (var i = 0; i < batch.FinishedCount; i++) Sequences.Release(batch.Finished(i));
        batch.ClearFinished();
    }

    public void Abort(int slot)
    {
        if (_cohort) DissolveCohort();
        ref var q = ref Sequences[slot];
        if (q.Status == SequenceStatus.Running)
        {
            var w = 0;
            for (var i = 0; i < _runningCount; i++)
                if (_running[i] != slot) { _running[w] = _running[i]; _runningIds[w] = _runningIds[i]; w++; }
            _runningCount = w;
        }
        else if (q.Status == SequenceStatus.Waiting) _waiting.Remove(slot);
        if (q.Status != SequenceStatus.Finished) Kv.Release(ref q, keepForReuse: false);
        q.Status = SequenceStatus.Finished;
        Sequences.Release(slot);
    }

    /// <summary>
    /// Whether the next iterations are a steady decode phase that can be committed in bulk: nothing waits, every
    /// running sequence decodes, and none finishes within <paramref name="maxSteps"/> steps nor needs a block that is
    /// not free. Then <paramref name="batch"/> sequences with contexts summing to <paramref name="contextSum"/> (the new
    /// token included) each grow by one token per step, exactly as step-by-step scheduling would run them.
    /// </summary>
    public bool TryPlanDecodeRun(out int batch, out long contextSum, out int maxSteps)
    {
        if (_cohort) return TryPlanDecodeRunWithCohort(out batch, out contextSum, out maxSteps);
        batch = _runningCount;
        contextSum = 0;
        maxSteps = 0;
        if (batch == 0 || _waiting.Count > 0 || batch > Config.MaxNumBatchedTokens) return false;
        var pool = Sequences;
        var steps = int.MaxValue;
        for (var i = 0; i < batch; i++)
        {
            ref var q = ref pool[_running[i]];
            if (!q.IsDecoding) return false;
            contextSum += q.Computed + 1L;
            // leave the step that finishes a sequence to the regular path
            steps = Math.Min(steps, q.Output - q.Generated - 1);
            steps = Math.Min(steps, Config.MaxModelLen - 1 - q.Computed);
        }
        if (steps < 1) return false;
        maxSteps = KvStepsThatFit(steps);
        return maxSteps >= 1;
    }

    /// <summary>Largest k up to <paramref name="max"/> such that every running sequence can grow by k tokens within the free blocks.</summary>
    public int KvStepsThatFit(int max, int alreadyScheduled = 0)
    {
        long Extra(int k)
        {
            if (_cohort) return CohortBlocksNeeded(k, alreadyScheduled) + ExplicitBlocksNeeded(k, alreadyScheduled);
            long extra = 0;
            for (var i = 0; i < _runningCount; i++) extra += Kv.BlocksNeeded(Sequences[_running[i]], (long)k + alreadyScheduled);
            return extra;
        }
        if (Extra(max) <= Kv.Free) return max;
        int lo = 0, hi = max; // Extra(lo) fits, Extra(hi) does not
        while (hi - lo > 1)
        {
            var mid = lo + (hi - lo) / 2;
            if (Extra(mid) <= Kv.Free) lo = mid; else hi = mid;
        }
        return lo;
    }

    /// <summary>Commits <paramref name="steps"/> decode steps of a run planned by <see cref="TryPlanDecodeRun"/> in bulk.</summary>
    public void CommitDecodeRun(int steps)
    {
        if (_cohort) { CommitDecodeRunWithCohort(steps); return; }
        var pool = Sequences;
        for (var i = 0; i < _runningCount; i++)
        {
            ref var q = ref pool[_running[i]];
            if (!Kv.TryGrow(ref q, steps)) throw new InvalidOperationException("decode run committed beyond the KV blocks it was planned for");
            q.Computed += steps;
            q.Generated += steps;
        }
    }

    private void AddRunning(int s)
    {
        if (_runningCount == _running.Length)
        {
            Array.Resize(ref _running, _running.Length * 2);
            Array.Resize(ref _runningIds, _running.Length);
        }
        ref var q = ref Sequences[s];
        _runningIds[_runningCount] = q.Id;
        q.RunOrder = _admissions++;
        _running[_runningCount++] = s;
        if (_cohort) AddExplicit(s);
    }

    // Drops finished entries (and, while a cohort is active, entries whose slot a new request took), keeping order.
    private void CompactRunning()
    {
        var pool = Sequences;
        var w = 0;
        for (var i = 0; i < _runningCount; i++)
        {
            ref var q = ref pool[_running[i]];
            if (q.Status != SequenceStatus.Running || q.Id != _runningIds[i]) continue;
            _running[w] = _running[i];
            _runningIds[w] = _runningIds[i];
            w++;
        }
        _runningCount = w;
        _dead = 0;
    }
}
