using System.Runtime.CompilerServices;
using Joules.Profiles;
using Joules.Simulation.Kernel;

namespace Joules.Simulation.Engine;

/// <summary>
/// One model replica on <c>tp</c> GPUs running a serving engine. It is a simulation process: each
/// event is an iteration boundary where the finished iteration's tokens are committed and the next
/// batch is formed (vLLM-style continuous batching or static batching), priced by the cost model and
/// scheduled. While no other event comes before its next boundary it keeps running inline, which is
/// equivalent and saves the event queue. Requests live in a pooled struct array; the iteration loop
/// does not allocate.
/// </summary>
public sealed class Instance : IEventTarget
{
    /// <summary>Iteration boundaries fire after arrivals at the same instant, so a request arriving at t joins the iteration starting at t.</summary>
    public const int BoundaryPriority = 1;

    private struct Seq
    {
        public long Id;
        public double Arrival;
        public double FirstScheduled;
        public double FirstToken;
        public double Energy;
        public int Input;
        public int Output;
        public int Generated;
        public int Computed;
        public int Blocks;
        public int PromptDone;
        public int Preemptions;
        public int Scheduled;
        public bool Done;
    }

    private readonly ICostModel _cost;
    private readonly EngineConfig _cfg;
    private readonly IRequestObserver _observer;
    private readonly int _blockSize;
    private readonly bool _static;
    private Seq[] _seqs = new Seq[64];
    private int[] _freeSlots = new int[64];
    private int _freeCount;
    private int _slotsUsed;
    private readonly SlotDeque _waiting = new();
    private int[] _running = new int[64];
    private int _runningCount;
    private int[] _batch = new int[64];
    private int _batchCount;
    private long _batchTokens;
    private IterationCost _inflight;
    private double _inflightStart;
    private bool _active;
    private readonly PowerTimeline? _power;
    private readonly IArrivalHorizon? _horizon;

    public Instance(int index, ICostModel cost, EngineConfig cfg, int kvBlocks, IRequestObserver observer, PowerTimeline? power = null, IArrivalHorizon? horizon = null)
    {
        _horizon = horizon;
        Index = index;
        _cost = cost;
        _cfg = cfg;
        _observer = observer;
        _blockSize = cfg.BlockSize;
        _static = cfg.Batching == BatchingKind.Static;
        TotalBlocks = kvBlocks;
        FreeBlocks = kvBlocks;
        _power = power;
    }

    public int Index { get; }
    public int TotalBlocks { get; }
    public int FreeBlocks { get; private set; }
    public int PeakBlocksUsed { get; private set; }
    public long Iterations { get; private set; }
    public double BusySeconds { get; private set; }
    public double BusyJoules { get; private set; }
    public long Preemptions { get; private set; }
    public long RequestsRouted { get; private set; }
    /// <summary>Prompt tokens routed here and not yet prefilled (recomputation not counted).</summary>
    public long OutstandingPromptTokens { get; private set; }
    /// <summary>Output tokens routed here and not yet generated.</summary>
    public long OutstandingDecodeTokens { get; private set; }
    public long OutstandingTokens => OutstandingPromptTokens + OutstandingDecodeTokens;
    /// <summary>Requests routed here and not finished.</summary>
    public int Resident => _slotsUsed;
    public int RunningCount => _runningCount;
    public int WaitingCount => _waiting.Count;
    public bool IsBusy => _active;

    /// <summary>Accepts a request that arrives now; wakes the instance if it was idle.</summary>
    public void Enqueue(SimEnvironment env, long id, int input, int output)
    {
        RequestsRouted++;
        input = Math.Max(1, input);
        output = Math.Max(1, output);
        var now = env.Now;
        if (BlocksFor((long)input + output) > TotalBlocks)
        {
            // It could never hold its whole context: vLLM rejects such a request up front.
            _observer.OnFinished(new RequestResult(id, Index, now, now, now, now, input, output, 0, 0, Rejected: true));
            return;
        }
        var s = AllocSlot();
        ref var q = ref _seqs[s];
        q = default;
        q.Id = id;
        q.Arrival = now;
        q.Input = input;
        q.Output = output;
        q.FirstScheduled = double.NaN;
        _waiting.PushBack(s);
        OutstandingPromptTokens += input;
        OutstandingDecodeTokens += output;
        if (!_active)
        {
            _active = true;
            _pending = now;
            if (!Lazy) env.ScheduleAt(now, this, 0, BoundaryPriority);
        }
    }

    /// <summary>
    /// Runs iterations from the event time on. Instances interact only through arrivals (routing), so an
    /// instance may run ahead on its own clock up to the next arrival: iterations that end before it are
    /// processed inline, and only the boundary at or after it goes through the event queue.
    /// </summary>
    public void OnEvent(SimEnvironment env, long arg)
    {
        var end = RunFrom(env.Now, _horizon?.NextArrivalTime ?? env.NextEventTime);
        if (_active) env.ScheduleAt(end, this, 0, BoundaryPriority);
    }

    /// <summary>
    /// Lazy driving (routers that never look at instance state): the instance keeps no event in the queue;
    /// before a request is handed to it, it catches up by processing every iteration boundary before
    /// <paramref name="time"/>, exactly as the events would have. <c>+infinity</c> drains it.
    /// </summary>
    public void AdvanceTo(double time)
    {
        if (_active && _pending < time) RunFrom(_pending, time);
    }

    /// <summary>When true the instance is driven by <see cref="AdvanceTo"/> instead of events.</summary>
    public bool Lazy { get; init; }

    private double _pending;

    /// <summary>Processes the boundary at <paramref name="now"/> and every later one before <paramref name="horizon"/>; returns the next boundary (and stays active) or goes idle.</summary>
    private double RunFrom(double now, double horizon)
    {
        while (true)
        {
            if (_batchCount > 0) Commit(now);
            if (!_static && _waiting.Count == 0) now = DecodeRun(now, horizon);
            if (!(_static ? FormStaticBatch(now) : FormContinuousBatch(now)))
            {
                _active = false;
                return now;
            }
            var seconds = _inflight.Seconds;
            if (!(seconds > 0) || double.IsInfinity(seconds))
                throw new InvalidOperationException($"cost model '{_cost.Name}' returned a non-positive or infinite iteration time ({seconds} s)");
            var end = now + seconds;
            if (end < horizon) { now = end; continue; }
            _pending = end;
            return end;
        }
    }

    /// <summary>Time the last committed iteration ended.</summary>
    public double LastBusyEnd { get; private set; }

    /// <summary>
    /// Fast path for a steady decode phase (nothing waiting, every running request decoding): steps that
    /// end before <paramref name="horizon"/> and before any request finishes or needs a KV block it cannot
    /// get are priced one by one but committed in bulk, without per-request work per step. Returns the
    /// time after the last bulk step; the caller forms the next iteration normally from there.
    /// </summary>
    private double DecodeRun(double now, double horizon)
    {
        var b = _runningCount;
        if (b == 0) return now;
        long contextSum = 0;
        var maxSteps = int.MaxValue;
        for (var i = 0; i < b; i++)
        {
            ref var q = ref _seqs[_running[i]];
            // a true decode: the last prompt token of a chunked prefill (need 1, nothing generated yet) is not
            if (q.Input + q.Generated - q.Computed != 1 || q.Generated == 0) return now;
            contextSum += q.Computed + 1L;
            // leave the step that finishes a request to the regular path
            maxSteps = Math.Min(maxSteps, q.Output - q.Generated - 1);
        }
        if (maxSteps < 2) return now;
        // KV: steps whose blocks fit without preemption
        var fit = KvStepsThatFit(maxSteps);
        if (fit < 2) return now;
        maxSteps = fit;
        double t = now, joules = 0;
        var steps = 0;
        if (_cost is IDecodeRunCostModel runs)
        {
            // Largest number of steps that all end before the horizon, by bisection on the closed form.
            var room = horizon - now;
            var k = maxSteps;
            var run = runs.EstimateDecodeRun(b, contextSum, k);
            if (!(run.Seconds < room))
            {
                int lo = 0, hi = maxSteps;
                while (hi - lo > 1)
                {
                    var mid = lo + (hi - lo) / 2;
                    if (runs.EstimateDecodeRun(b, contextSum, mid).Seconds < room) lo = mid; else hi = mid;
                }
                k = lo;
                run = runs.EstimateDecodeRun(b, contextSum, k);
            }
            if (k > 0)
            {
                steps = k;
                t = now + run.Seconds;
                joules = run.Joules;
                BusySeconds += run.Seconds;
                _power?.AddBusy(now, t, joules);
            }
        }
        else
        {
            while (steps < maxSteps)
            {
                var c = _cost.Estimate(IterationShape.Decode(b, 0) with { DecodeContextTokens = contextSum + (long)b * steps });
                var end = t + c.Seconds;
                if (!(c.Seconds > 0) || end >= horizon) break;
                _power?.AddBusy(t, end, c.Joules);
                joules += c.Joules;
                BusySeconds += c.Seconds;
                t = end;
                steps++;
            }
        }
        if (steps == 0) return now;
        Iterations += steps;
        BusyJoules += joules;
        LastBusyEnd = t;
        var share = joules / b;
        for (var i = 0; i < b; i++)
        {
            ref var q = ref _seqs[_running[i]];
            var need = BlocksFor((long)q.Computed + steps) - q.Blocks;
            if (need > 0) { FreeBlocks -= need; q.Blocks += need; }
            q.Computed += steps;
            q.Generated += steps;
            q.Energy += share;
        }
        OutstandingDecodeTokens -= (long)b * steps;
        var used = TotalBlocks - FreeBlocks;
        if (used > PeakBlocksUsed) PeakBlocksUsed = used;
        return t;
    }

    /// <summary>Largest k (up to <paramref name="max"/>) such that every running request can grow by k tokens within the free blocks.</summary>
    private int KvStepsThatFit(int max)
    {
        long Extra(int k)
        {
            long extra = 0;
            for (var i = 0; i < _runningCount; i++)
            {
                ref var q = ref _seqs[_running[i]];
                var need = BlocksFor((long)q.Computed + k) - q.Blocks;
                if (need > 0) extra += need;
            }
            return extra;
        }
        if (Extra(max) <= FreeBlocks) return max;
        int lo = 0, hi = max; // Extra(lo) fits, Extra(hi) does not
        while (hi - lo > 1)
        {
            var mid = lo + (hi - lo) / 2;
            if (Extra(mid) <= FreeBlocks) lo = mid; else hi = mid;
        }
        return lo;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int BlocksFor(long tokens) => (int)((tokens + _blockSize - 1) / _blockSize);

    private int AllocSlot()
    {
        _slotsUsed++;
        if (_freeCount > 0) return _freeSlots[--_freeCount];
        var s = _slotsUsed - 1;
        if (s >= _seqs.Length)
        {
            Array.Resize(ref _seqs, _seqs.Length * 2);
            Array.Resize(ref _freeSlots, _seqs.Length);
        }
        return s;
    }

    private void FreeSlot(int s)
    {
        _slotsUsed--;
        _freeSlots[_freeCount++] = s;
    }

    private void AddToBatch(int s, int n)
    {
        if (_batchCount == _batch.Length) Array.Resize(ref _batch, _batch.Length * 2);
        _batch[_batchCount++] = s;
        _seqs[s].Scheduled = n;
        _batchTokens += n;
    }

    private void AddRunning(int s)
    {
        if (_runningCount == _running.Length) Array.Resize(ref _running, _running.Length * 2);
        _running[_runningCount++] = s;
    }

    private void Allocate(ref Seq q, int newTokens)
    {
        var need = BlocksFor((long)q.Computed + newTokens) - q.Blocks;
        if (need <= 0) return;
        FreeBlocks -= need;
        q.Blocks += need;
        var used = TotalBlocks - FreeBlocks;
        if (used > PeakBlocksUsed) PeakBlocksUsed = used;
    }

    /// <summary>Preempts the newest running request: its KV blocks are freed and it goes back to the head of the queue to be recomputed.</summary>
    private void PreemptNewest()
    {
        var s = _running[--_runningCount];
        ref var q = ref _seqs[s];
        FreeBlocks += q.Blocks;
        q.Blocks = 0;
        q.Computed = 0;
        q.Preemptions++;
        Preemptions++;
        _waiting.PushFront(s);
    }

    private bool FormContinuousBatch(double now)
    {
        _batchCount = 0;
        _batchTokens = 0;
        var shape = default(IterationShape);
        var budget = _cfg.MaxNumBatchedTokens;
        var preempted = false;

        // 1. Decodes of running requests, oldest first; when KV runs out the newest running request is preempted.
        for (var i = 0; i < _runningCount; i++)
        {
            var s = _running[i];
            ref var q = ref _seqs[s];
            if (q.Input + q.Generated - q.Computed != 1 || q.Computed == 0) continue;
            var self = false;
            while (BlocksFor(q.Computed + 1L) - q.Blocks > FreeBlocks)
            {
                var victimPos = _runningCount - 1;
                PreemptNewest();
                preempted = true;
                if (victimPos == i) { self = true; break; }
            }
            if (self) break;
            if (budget < 1) break;
            Allocate(ref q, 1);
            AddToBatch(s, 1);
            budget--;
            shape = shape.AddDecode(q.Computed + 1L);
        }

        // 2. Prompt chunks of running requests still prefilling (chunked prefill), limited by budget and free KV.
        for (var i = 0; i < _runningCount && budget > 0; i++)
        {
            var s = _running[i];
            ref var q = ref _seqs[s];
            var need = q.Input + q.Generated - q.Computed;
            if (need <= 1 && q.Computed > 0) continue; // a decode, handled above
            var n = Math.Min(need, budget);
            n = Math.Min(n, RoomFor(ref q));
            if (n <= 0) continue;
            shape = shape.AddPrefill(n, q.Computed);
            Allocate(ref q, n);
            AddToBatch(s, n);
            budget -= n;
        }

        // 3. Admit waiting requests (not after a preemption, as vLLM, unless nothing else could run).
        if (!preempted || _batchCount == 0)
        {
            while (_waiting.Count > 0 && _runningCount < _cfg.MaxNumSeqs && budget > 0)
            {
                var s = _waiting.PeekFront();
                ref var q = ref _seqs[s];
                var need = q.Input + q.Generated - q.Computed;
                int n;
                if (_cfg.ChunkedPrefill)
                {
                    n = Math.Min(Math.Min(need, budget), RoomFor(ref q));
                    if (n <= 0) break;
                }
                else
                {
                    // The whole prompt in one iteration; a prompt above the budget may run alone rather than never.
                    n = need;
                    if (n > budget && _batchCount > 0) break;
                    if (BlocksFor(n) - q.Blocks > FreeBlocks) break;
                }
                _waiting.PopFront();
                AddRunning(s);
                if (double.IsNaN(q.FirstScheduled)) q.FirstScheduled = now;
                shape = shape.AddPrefill(n, q.Computed);
                Allocate(ref q, n);
                AddToBatch(s, n);
                budget -= n;
            }
        }

        if (_batchCount == 0) return false;
        Launch(now, shape);
        return true;
    }

    /// <summary>Tokens the request can add before its KV blocks plus the free ones are full.</summary>
    private int RoomFor(ref Seq q) => (int)Math.Min(int.MaxValue, (long)(q.Blocks + FreeBlocks) * _blockSize - q.Computed);

    private bool FormStaticBatch(double now)
    {
        _batchCount = 0;
        _batchTokens = 0;
        var shape = default(IterationShape);
        if (_runningCount > 0)
        {
            // Decode step of the current batch: finished members still occupy their slot (padding) and cost compute.
            for (var i = 0; i < _runningCount; i++)
            {
                var s = _running[i];
                ref var q = ref _seqs[s];
                if (q.Done) { shape = shape.AddDecode(q.Computed + 1L); continue; }
                shape = shape.AddDecode(q.Computed + 1L);
                AddToBatch(s, 1);
            }
            Launch(now, shape);
            return true;
        }
        // Form a new batch: oldest first, each with KV reserved for its whole prompt and output.
        var budget = _cfg.MaxNumBatchedTokens;
        while (_waiting.Count > 0 && _runningCount < _cfg.MaxNumSeqs)
        {
            var s = _waiting.PeekFront();
            ref var q = ref _seqs[s];
            var blocks = BlocksFor((long)q.Input + q.Output);
            if (blocks > FreeBlocks) break;
            if (q.Input > budget && _runningCount > 0) break;
            _waiting.PopFront();
            AddRunning(s);
            q.FirstScheduled = now;
            FreeBlocks -= blocks;
            q.Blocks = blocks;
            budget -= q.Input;
            shape = shape.AddPrefill(q.Input, 0);
            AddToBatch(s, q.Input);
        }
        var used = TotalBlocks - FreeBlocks;
        if (used > PeakBlocksUsed) PeakBlocksUsed = used;
        if (_batchCount == 0) return false;
        Launch(now, shape);
        return true;
    }

    private void Launch(double now, in IterationShape shape)
    {
        _inflight = _cost.Estimate(shape);
        _inflightStart = now;
    }

    /// <summary>Commits the finished iteration at <paramref name="now"/>: tokens computed, outputs generated, energy charged by token share, requests finished.</summary>
    private void Commit(double now)
    {
        var joules = _inflight.Joules;
        Iterations++;
        BusySeconds += _inflight.Seconds;
        BusyJoules += joules;
        LastBusyEnd = now;
        _power?.AddBusy(_inflightStart, now, joules);
        var perToken = _batchTokens > 0 ? joules / _batchTokens : 0;
        var finished = 0;
        for (var b = 0; b < _batchCount; b++)
        {
            ref var q = ref _seqs[_batch[b]];
            var n = q.Scheduled;
            q.Scheduled = 0;
            q.Energy += perToken * n;
            q.Computed += n;
            var prompt = Math.Min(q.Computed, q.Input);
            if (prompt > q.PromptDone)
            {
                OutstandingPromptTokens -= prompt - q.PromptDone;
                q.PromptDone = prompt;
            }
            if (q.Computed == q.Input + q.Generated)
            {
                q.Generated++;
                OutstandingDecodeTokens--;
                if (q.Generated == 1) q.FirstToken = now;
                if (q.Generated == q.Output) { q.Done = true; finished++; }
            }
        }
        _batchCount = 0;
        if (finished == 0) return;
        if (_static)
        {
            // The batch ends when its longest member is done; every member is returned then.
            for (var i = 0; i < _runningCount; i++) if (!_seqs[_running[i]].Done) return;
            for (var i = 0; i < _runningCount; i++) Finish(_running[i], now);
            _runningCount = 0;
            return;
        }
        var w = 0;
        for (var i = 0; i < _runningCount; i++)
        {
            var s = _running[i];
            if (_seqs[s].Done) Finish(s, now);
            else _running[w++] = s;
        }
        _runningCount = w;
    }

    private void Finish(int s, double now)
    {
        ref var q = ref _seqs[s];
        FreeBlocks += q.Blocks;
        q.Blocks = 0;
        _observer.OnFinished(new RequestResult(q.Id, Index, q.Arrival, q.FirstScheduled, q.FirstToken, now,
            q.Input, q.Output, q.Preemptions, q.Energy, Rejected: false));
        FreeSlot(s);
    }

    public InstanceStats Stats(double endTime) => new(
        Index, Iterations, BusySeconds, BusyJoules, IdleJoules(endTime), Preemptions,
        TotalBlocks > 0 ? (double)PeakBlocksUsed / TotalBlocks : 0, RequestsRouted);

    /// <summary>Idle energy over [0, <paramref name="endTime"/>].</summary>
    public double IdleJoules(double endTime) => Math.Max(0, endTime - BusySeconds) * _cost.IdleWatts;
}

/// <summary>Tells instances when the next request arrives, which bounds how far they may run ahead on their own.</summary>
public interface IArrivalHorizon
{
    /// <summary>Time of the next pending arrival, +infinity when the trace is exhausted.</summary>
    double NextArrivalTime { get; }
}

/// <summary>Told about every request the moment it finishes or is rejected.</summary>
public interface IRequestObserver
{
    void OnFinished(in RequestResult result);
}

/// <summary>A growable ring buffer of slot indices with push at both ends.</summary>
internal sealed class SlotDeque
{
    private int[] _items = new int[64];
    private int _head;
    public int Count { get; private set; }

    public void PushBack(int v)
    {
        if (Count == _items.Length) Grow();
        _items[(_head + Count) & (_items.Length - 1)] = v;
        Count++;
    }

    public void PushFront(int v)
    {
        if (Count == _items.Length) Grow();
        _head = (_head - 1) & (_items.Length - 1);
        _items[_head] = v;
        Count++;
    }

    public int PeekFront() => _items[_head];

    public int PopFront()
    {
        var v = _items[_head];
        _head = (_head + 1) & (_items.Length - 1);
        Count--;
        return v;
    }

    private void Grow()
    {
        var bigger = new int[_items.Length * 2];
        for (var i = 0; i < Count; i++) bigger[i] = _items[(_head + i) & (_items.Length - 1)];
        _items = bigger;
        _head = 0;
    }
}
