namespace Joules.Scheduling;

/// <summary>
/// Static batching, the contrast to continuous batching: a batch forms from the head of the queue (each member
/// with KV reserved for its whole prompt and output), prefills together, decodes until its longest member is done
/// (finished members still run as padding and cost compute), and every member is returned at the end.
/// </summary>
public sealed class StaticScheduler : IBatchScheduler
{
    private readonly SlotDeque _waiting = new();
    private int[] _running = new int[64];
    private int _runningCount;

    public StaticScheduler(SchedulerConfig config, IKvCache kv, SequencePool? sequences = null)
    {
        config.Validate();
        Config = config;
        Kv = kv;
        Sequences = sequences ?? new SequencePool();
    }

    public SchedulerConfig Config { get; }
    public SequencePool Sequences { get; }
    public IKvCache Kv { get; }
    public int RunningCount => _runningCount;
    public int WaitingCount => _waiting.Count;
    public int Running(int i) => _running[i];

    public void AddWaiting(int slot)
    {
        Sequences[slot].Status = SequenceStatus.Waiting;
        _waiting.PushBack(slot);
    }

    public void Schedule(ScheduledBatch batch)
    {
        batch.Clear();
        var pool = Sequences;
        if (_runningCount > 0)
        {
            for (var i = 0; i < _runningCount; i++)
            {
                var s = _running[i];
                ref var q = ref pool[s];
                if (q.Done) { batch.AddPadding(q.Computed); continue; }
                batch.Add(s, 1, q.Computed, decode: true);
                q.Scheduled = 1;
            }
            return;
        }
        var budget = Config.MaxNumBatchedTokens;
        while (_waiting.Count > 0 && _runningCount < Config.MaxNumSeqs)
        {
            var s = _waiting.PeekFront();
            ref var q = ref pool[s];
            if (q.Input > budget && _runningCount > 0) break;
            if (!Kv.TryAdmit(ref q, 0, q.Input + q.Output)) break;
            _waiting.PopFront();
            _running[_runningCount++] = s;
            if (_runningCount == _running.Length) Array.Resize(ref _running, _running.Length * 2);
            q.Status = SequenceStatus.Running;
            q.Scheduled = q.Input;
            budget -= q.Input;
            batch.Add(s, q.Input, 0, decode: false);
            batch.MarkAdmitted(s, 0);
        }
    }

    public void Commit(ScheduledBatch batch)
    {
        var pool = Sequences;
        batch.ClearFinished();
        var anyFinished = false;
        for (var e = 0; e < batch.Count; e++)
        {
            ref var q = ref pool[batch.Slot(e)];
            q.Computed += batch.Tokens(e);
            q.Scheduled = 0;
            q.PromptDone = Math.Min(q.Computed, q.Input);
            q.Generated++;
            var o = StepOutcome.Token;
            if (q.Generated == 1) o |= StepOutcome.FirstToken;
            if (q.Done) { o |= StepOutcome.Finished; anyFinished = true; }
            batch.SetOutcome(e, o);
        }
        if (!anyFinished) return;
        for (var i = 0; i < _runningCount; i++) if (!pool[_running[i]].Done) return;
        // The batch ends with its longest member: every member is returned now.
        for (var i = 0; i < _runningCount; i++)
        {
            ref var q = ref pool[_running[i]];
            q.Status = SequenceStatus.Finished;
            Kv.Release(ref q, keepForReuse: false);
            batch.MarkFinished(_running[i]);
        }
        _runningCount = 0;
    }

    public void ReleaseFinished(ScheduledBatch batch)
    {
        for (var i = 0; i < batch.FinishedCount; i++) Sequences.Release(batch.Finished(i));
        batch.ClearFinished();
    }

    public void Abort(int slot)
    {
        ref var q = ref Sequences[slot];
        if (q.Status == SequenceStatus.Waiting) _waiting.Remove(slot);
        else if (q.Status == SequenceStatus.Running)
        {
            // A member leaving a static batch is left as padding until the batch ends, so only its output stops.
            q.Generated = q.Output;
            return;
        }
        Sequences.Release(slot);
    }
}
