using Joules.Profiles;
using Joules.Scheduling;

namespace Joules.Simulation.Engine;

/// <summary>Power state of an instance, for autoscaling.</summary>
public enum InstanceState : byte
{
    /// <summary>Loaded and taking requests (busy or idle).</summary>
    Serving,
    /// <summary>Loaded, finishing its requests, taking no new ones; parks when empty.</summary>
    Draining,
    /// <summary>Off: the GPUs draw nothing, only the server's share stays on.</summary>
    Parked,
    /// <summary>Cold start: loading weights and starting the engine; requests routed to it wait.</summary>
    Waking,
}

/// <summary>
/// One model replica on <c>tp</c> GPUs in virtual time: it keeps the clock, asks its batch scheduler (the same
/// pure scheduler `joules serve` drives a GPU with) for each iteration, prices the iteration with the cost model,
/// and at the iteration's end commits it: tokens, first-token and finish times, and energy charged to the
/// sequences by what each caused. It holds no events: the cluster brings it up to an instant with
/// <see cref="AdvanceTo"/> before it hands it a request or reads its state.
/// </summary>
public sealed class Instance
{
    private readonly ICostModel _cost;
    private readonly IDecodeRunCostModel? _runs;
    private readonly ITimedCostModel? _timed;
    private readonly IBatchScheduler _sched;
    private readonly ContinuousScheduler? _continuous;
    private readonly SequencePool _pool;
    private readonly IKvCache _kv;
    private readonly ScheduledBatch _batch = new();
    private readonly EnergyAttribution _attribution;
    private readonly IRequestObserver _observer;
    private readonly PowerTimeline? _power;
    private readonly bool _fastDecodeRuns;
    private readonly int _maxModelLen;

    // Per-slot bookkeeping the scheduler does not need (time and energy).
    private double[] _arrival = new double[64];
    private double[] _firstScheduled = new double[64];
    private double[] _firstToken = new double[64];
    private double[] _energy = new double[64];

    private bool _active;
    private bool _inflight;
    private IterationCost _inflightCost;
    private double _inflightStart;
    private double _pending;
    private double _nextChange = double.NaN;

    /// <param name="index">Position in the cluster.</param>
    /// <param name="cost">Prices iterations.</param>
    /// <param name="scheduler">Scheduler limits.</param>
    /// <param name="kvBlocks">KV-cache capacity in blocks.</param>
    /// <param name="observer">Told about every finished or rejected request.</param>
    /// <param name="power">Power timeline to feed, if any.</param>
    /// <param name="fastDecodeRuns">Price steady decode phases in closed form and commit them in bulk (exact; off only to check that it is).</param>
    /// <param name="causalAttribution">Charge sequences their marginal cost (default) rather than their token share.</param>
    /// <param name="cohortMinimum">Fewest decoding sequences worth a decode cohort (default: the scheduler's; tests lower it to exercise the cohort on small cases).</param>
    /// <param name="deferDecodes">With <paramref name="fastDecodeRuns"/>, let the scheduler advance steady decodes as a cohort in mixed iterations (exact; off only to check that it is).</param>
    public Instance(int index, ICostModel cost, SchedulerConfig scheduler, int kvBlocks, IRequestObserver observer,
        PowerTimeline? power = null, bool fastDecodeRuns = true, bool causalAttribution = true, bool deferDecodes = true, int? cohortMinimum = null)
    {
        scheduler = scheduler with { DeferDecodes = fastDecodeRuns && deferDecodes, DeferDecodesMinimum = cohortMinimum ?? scheduler.DeferDecodesMinimum };
        Index = index;
        _cost = cost;
        _runs = cost as IDecodeRunCostModel;
        _timed = cost as ITimedCostModel;
        // Counts, not block ids: the simulator needs no block tables, and per-block memory would dominate its time.
        _kv = new KvBlockAccounting(kvBlocks, scheduler.BlockSize, scheduler.PrefixCaching, scheduler.HashBlockTokens);
        _pool = new SequencePool();
        if (scheduler.Static) _sched = new StaticScheduler(scheduler, _kv, _pool);
        else _sched = _continuous = new ContinuousScheduler(scheduler, _kv, _pool);
        _attribution = new EnergyAttribution { Causal = causalAttribution };
        _observer = observer;
        _power = power;
        _fastDecodeRuns = fastDecodeRuns;
        _maxModelLen = scheduler.MaxModelLen;
    }

    public int Index { get; }

    /// <summary>Power state (always Serving without an autoscaler).</summary>
    public InstanceState State { get; private set; }
    /// <summary>When a waking instance can start its first iteration.</summary>
    public double ReadyAt { get; private set; }
    /// <summary>Seconds spent parked, waking, and (GPU) energy drawn while waking, up to the last state change.</summary>
    public double ParkedSeconds { get; private set; }
    public double WakingSeconds { get; private set; }
    /// <summary>Cold starts so far.</summary>
    public int Wakes { get; private set; }
    private double _stateSince;

    /// <summary>Whether a router may hand it new requests (serving, or waking when nothing serves).</summary>
    public bool Routable => State == InstanceState.Serving;

    /// <summary>Turns the instance off at <paramref name="t"/> (it must hold no requests).</summary>
    public void Park(double t)
    {
        if (Resident > 0) throw new InvalidOperationException($"instance {Index} cannot park with {Resident} requests");
        Enter(InstanceState.Parked, t);
        _power?.SetLevel(t, 0, PowerLevel.Parked);
    }

    /// <summary>Starts a cold start at <paramref name="t"/> that ends <paramref name="seconds"/> later.</summary>
    public void Wake(double t, double seconds)
    {
        Enter(InstanceState.Waking, t);
        ReadyAt = t + seconds;
        Wakes++;
        // While waking the GPUs draw their idle power (loading weights, building the engine).
        _power?.SetLevel(t, _cost.IdleWatts, PowerLevel.Waking);
        _power?.SetLevel(ReadyAt, _cost.IdleWatts, PowerLevel.Idle);
    }

    /// <summary>A waking instance whose cold start is over becomes serving (at <see cref="ReadyAt"/>).</summary>
    public void MarkReady()
    {
        if (State == InstanceState.Waking) Enter(InstanceState.Serving, ReadyAt);
    }

    /// <summary>Stops taking requests; it parks once its requests are done.</summary>
    public void Drain(double t)
    {
        if (State == InstanceState.Serving) Enter(InstanceState.Draining, t);
    }

    /// <summary>A draining instance takes requests again (a scale-up that needs no cold start).</summary>
    public void Undrain(double t)
    {
        if (State == InstanceState.Draining) Enter(InstanceState.Serving, t);
    }

    private void Enter(InstanceState next, double t)
    {
        if (State == InstanceState.Parked) ParkedSeconds += t - _stateSince;
        else if (State == InstanceState.Waking) WakingSeconds += t - _stateSince;
        State = next;
        _stateSince = t;
    }

    /// <summary>Closes the state accounting at the end of the run.</summary>
    public void FinishStates(double end)
    {
        if (State == InstanceState.Parked) ParkedSeconds += Math.Max(0, end - _stateSince);
        else if (State == InstanceState.Waking) WakingSeconds += Math.Max(0, Math.Min(end, ReadyAt) - _stateSince);
        _stateSince = end;
    }

    /// <summary>What prices this instance's iterations (its own governed model under a clock governor).</summary>
    public ICostModel CostModel => _cost;
    public int TotalBlocks => _kv.Total;
    public int FreeBlocks => _kv.Free;
    public int PeakBlocksUsed => _kv.PeakUsed;
    public IKvCache Kv => _kv;
    public long Iterations { get; private set; }
    /// <summary>Tokens that passed through the model (prefill chunks, recomputation and decode steps).</summary>
    public long ComputedTokens { get; private set; }
    public double BusySeconds { get; private set; }
    public double BusyJoules { get; private set; }
    /// <summary>Of the busy energy, what tensor-parallel all-reduce took (as the cost model prices it).</summary>
    public double CommJoules { get; private set; }
    /// <summary>Busy energy by how the cost model priced it (index: <see cref="PricingClass"/>).</summary>
    public double[] PricedJoules { get; } = new double[5];
    public long Preemptions { get; private set; }
    public long RequestsRouted { get; private set; }
    /// <summary>Prefill energy the prefix cache saved, as the cost model prices the uncached counterfactual.</summary>
    public double PrefixSavedJoules { get; private set; }
    /// <summary>Prompt tokens routed here and not yet prefilled (recomputation not counted).</summary>
    public long OutstandingPromptTokens { get; private set; }
    /// <summary>Output tokens routed here and not yet generated: only an oracle knows this before the request ends.</summary>
    public long OutstandingDecodeTokens { get; private set; }
    public long OutstandingTokens => OutstandingPromptTokens + OutstandingDecodeTokens;
    /// <summary>Prompt tokens of requests routed here that have not returned their first token: what a router sees from the outside.</summary>
    public long QueuedPromptTokens { get; private set; }
    /// <summary>Requests routed here and not finished.</summary>
    public int Resident => _pool.Count;
    public int RunningCount => _sched.RunningCount;
    /// <summary>Iterations its scheduler formed with a decode cohort (see <see cref="SchedulerConfig.DeferDecodes"/>).</summary>
    public long CohortIterations => _continuous?.CohortIterations ?? 0;
    public int WaitingCount => _sched.WaitingCount;
    public bool IsBusy => _active;
    /// <summary>Time the last committed iteration ended.</summary>
    public double LastBusyEnd { get; private set; }

    /// <summary>Accepts a request that arrives at <paramref name="now"/> (the instance must have been advanced to it); wakes the instance if idle.</summary>
    public void Enqueue(double now, long id, int input, int output, long[]? hashIds = null)
    {
        RequestsRouted++;
        input = Math.Max(1, input);
        output = Math.Max(1, output);
        var reason = (long)input + output > _maxModelLen ? RejectReason.MaxModelLen
            : _kv.BlocksFor((long)input + output) > _kv.Total ? RejectReason.KvCapacity
            : RejectReason.None;
        if (reason != RejectReason.None)
        {
            _observer.OnFinished(new RequestResult(id, Index, now, now, now, now, input, output, 0, 0, reason));
            return;
        }
        var s = _pool.Add(id, input, output, hashIds);
        if (s >= _arrival.Length)
        {
            var n = _pool.Capacity;
            Array.Resize(ref _arrival, n);
            Array.Resize(ref _firstScheduled, n);
            Array.Resize(ref _firstToken, n);
            Array.Resize(ref _energy, n);
        }
        _arrival[s] = now;
        _firstScheduled[s] = double.NaN;
        _firstToken[s] = double.NaN;
        _energy[s] = 0;
        _sched.AddWaiting(s);
        OutstandingPromptTokens += input;
        OutstandingDecodeTokens += output;
        QueuedPromptTokens += input;
        _nextChange = double.NaN;
        if (!_active)
        {
            _active = true;
            _inflight = false;
            // A waking instance starts its first iteration once its cold start is over.
            _pending = State == InstanceState.Waking ? Math.Max(now, ReadyAt) : now;
        }
    }

    /// <summary>Processes every iteration boundary before <paramref name="time"/>, exactly as a clock ticking through them would; <c>+infinity</c> drains the instance.</summary>
    public void AdvanceTo(double time)
    {
        if (!_active || !(_pending < time)) return;
        _nextChange = double.NaN;
        var now = _pending;
        while (true)
        {
            if (_inflight) { Commit(now); _inflight = false; }
            if (_fastDecodeRuns && _continuous != null) now = DecodeRun(now, time);
            _sched.Schedule(_batch);
            if (_batch.IsEmpty)
            {
                _active = false;
                _pending = now;
                return;
            }
            Launch(now);
            var end = now + _inflightCost.Seconds;
            _inflight = true;
            _pending = end;
            if (!(end < time)) return;
            now = end;
        }
    }

    /// <summary>
    /// The earliest time at which what a router can see of this instance (<see cref="Resident"/> and
    /// <see cref="QueuedPromptTokens"/>) may change without a new request: +infinity when idle, the end of the
    /// current iteration in general, and the end of the step that finishes the first request when the instance is
    /// in a steady decode phase (nothing waiting, everyone decoding, enough free KV). Bringing the instance up to an
    /// arrival is only needed when this is before it.
    /// </summary>
    public double NextObservableChange
    {
        get
        {
            if (double.IsNaN(_nextChange)) _nextChange = ComputeNextObservableChange();
            return _nextChange;
        }
    }

    private double ComputeNextObservableChange()
    {
        if (!_active) return double.PositiveInfinity;
        if (!_inflight || _continuous == null || _runs == null || _continuous.WaitingCount > 0) return _pending;
        var b = _batch.Count;
        var members = _batch.CohortSize;
        if (b + members != _continuous.RunningCount || b + members == 0) return _pending;
        long contextSum = 0;
        var steps = int.MaxValue;
        if (members > 0)
        {
            var (left, next) = _continuous.CohortAfterInFlight;
            if (left < 1) return _pending;
            steps = (int)Math.Min(steps, left);
            contextSum += next;
        }
        for (var e = 0; e < b; e++)
        {
            if (!_batch.IsDecode(e)) return _pending;
            ref var q = ref _pool[_batch.Slot(e)];
            var left = q.Output - q.Generated - 1; // decode steps after the one in flight
            if (left < 1) return _pending;          // the one in flight finishes it
            steps = Math.Min(steps, left);
            steps = Math.Min(steps, _maxModelLen - 2 - q.Computed);
            contextSum += q.Computed + 2L;
        }
        if (steps < 1) return _pending;
        steps = _continuous.KvStepsThatFit(steps, alreadyScheduled: 1);
        if (steps < 1) return _pending;
        var t = _pending + _runs.EstimateDecodeRun(b + members, contextSum, steps).Seconds;
        // Never later than the true change: the step-by-step clock may round differently.
        return t - 1e-9 * Math.Max(1, Math.Abs(t));
    }

    private void Launch(double now)
    {
        _timed?.BeginIteration(now, _batch.Shape);
        _inflightCost = _cost.Estimate(_batch.Shape);
        var seconds = _inflightCost.Seconds;
        if (!(seconds > 0) || double.IsInfinity(seconds))
            throw new InvalidOperationException($"cost model '{_cost.Name}' returned a non-positive or infinite iteration time ({seconds} s)");
        _inflightStart = now;
        Preemptions += _batch.PreemptedCount;
        for (var i = 0; i < _batch.AdmittedCount; i++)
        {
            var s = _batch.Admitted(i);
            if (double.IsNaN(_firstScheduled[s])) _firstScheduled[s] = now;
        }
        if (_batch.CacheHitTokens > 0) PrefixSavedJoules += SavedByPrefixCache();
    }

    // What the admitted chunks with cache hits would have cost computed from scratch, over what they cost.
    private double SavedByPrefixCache()
    {
        var shape = _batch.Shape;
        var counterfactual = shape;
        for (var e = 0; e < _batch.Count; e++)
        {
            var h = _batch.HitTokens(e);
            if (h == 0) continue;
            var n = _batch.Tokens(e);
            counterfactual = EnergyAttribution.WithoutPrefill(counterfactual, n, h).AddPrefill(n + h, 0);
        }
        return Math.Max(0, _cost.Estimate(counterfactual).Joules - _inflightCost.Joules);
    }

    private void Commit(double now)
    {
        var joules = _inflightCost.Joules;
        Iterations++;
        ComputedTokens += _batch.TotalTokens;
        BusySeconds += _inflightCost.Seconds;
        BusyJoules += joules;
        CommJoules += _inflightCost.CommJoules;
        PricedJoules[(int)_inflightCost.Pricing] += joules;
        LastBusyEnd = now;
        _power?.AddBusy(_inflightStart, now, joules);
        var weighting = _attribution.Prepare(_cost, _batch, joules, _continuous);
        if (_batch.CohortSize > 0) ChargeCohort(weighting, joules);
        // Only prefill chunks advance a prompt: a decode's prompt is done (it has generated a token).
        for (var k = 0; k < _batch.PrefillEntryCount; k++)
        {
            var e = _batch.PrefillEntry(k);
            ref var q = ref _pool[_batch.Slot(e)];
            var prompt = Math.Min(q.Computed + _batch.Tokens(e), q.Input);
            if (prompt > q.PromptDone) OutstandingPromptTokens -= prompt - q.PromptDone;
        }
        _sched.Commit(_batch);
        // One pass for energy and outcomes: this loop and the scheduler's are the per-sequence cost of an iteration.
        for (var e = 0; e < _batch.Count; e++)
        {
            _energy[_batch.Slot(e)] += joules * weighting.Share(_batch, e);
            var o = _batch.Outcome(e);
            if ((o & StepOutcome.Token) == 0) continue;
            OutstandingDecodeTokens--;
            if ((o & StepOutcome.FirstToken) == 0) continue;
            var s = _batch.Slot(e);
            _firstToken[s] = now;
            QueuedPromptTokens -= _pool[s].Input;
        }
        OutstandingDecodeTokens -= _batch.CohortSize;
        for (var i = 0; i < _batch.FinishedCount; i++)
        {
            var s = _batch.Finished(i);
            ref var q = ref _pool[s];
            // What the decode cohort charged it is settled in Accrued when it leaves the cohort.
            _observer.OnFinished(new RequestResult(q.Id, Index, _arrival[s], _firstScheduled[s], _firstToken[s], now,
                q.Input, q.Output, q.Preemptions, _energy[s] + q.Accrued, RejectReason.None, q.CachedPromptTokens));
        }
        _sched.ReleaseFinished(_batch);
    }

    /// <summary>
    /// Fast path for a steady decode phase (nothing waiting, every running request decoding): the steps that end
    /// before <paramref name="horizon"/>, before any request finishes and before any needs a KV block it cannot get
    /// are priced in closed form (bisection on the run length) and committed in bulk. Returns the time after them.
    /// </summary>
    private double DecodeRun(double now, double horizon)
    {
        if (!_continuous!.TryPlanDecodeRun(out var b, out var contextSum, out var maxSteps) || maxSteps < 2) return now;
        int steps;
        IterationCost run;
        if (_runs != null)
        {
            _timed?.BeginIteration(now, IterationShape.Decode(b, 0) with { DecodeContextTokens = contextSum });
            var room = horizon - now;
            steps = maxSteps;
            run = _runs.EstimateDecodeRun(b, contextSum, steps);
            if (!(run.Seconds < room))
            {
                // The longest run that ends before the horizon. A step takes nearly the same time all run long, so the
                // proportional guess is within a step or two: probe it, gallop up from it, and bisect only what is left
                // (a routers' catch-up cuts runs at every arrival, where a plain bisection cost a dozen estimates).
                int lo = 0, hi = maxSteps; // run(lo) fits before the horizon, run(hi) does not
                IterationCost atLo = default;
                var guess = (int)Math.Clamp(Math.Floor(room / run.Seconds * maxSteps), 1, maxSteps - 1);
                if (guess > lo && guess < hi)
                {
                    var c = _runs.EstimateDecodeRun(b, contextSum, guess);
                    if (c.Seconds < room) { lo = guess; atLo = c; } else hi = guess;
                }
                for (var jump = 1; lo > 0 && lo + jump < hi; jump *= 2)
                {
                    var c = _runs.EstimateDecodeRun(b, contextSum, lo + jump);
                    if (!(c.Seconds < room)) { hi = lo + jump; break; }
                    lo += jump;
                    atLo = c;
                }
                while (hi - lo > 1)
                {
                    var mid = lo + (hi - lo) / 2;
                    var c = _runs.EstimateDecodeRun(b, contextSum, mid);
                    if (c.Seconds < room) { lo = mid; atLo = c; } else hi = mid;
                }
                steps = lo;
                run = atLo;
            }
            if (steps == 0) return now;
            _power?.AddBusy(now, now + run.Seconds, run.Joules);
        }
        else
        {
            steps = 0;
            double t = now, j = 0, cs = 0, cj = 0;
            var pricing = PricingClass.Model;
            while (steps < maxSteps)
            {
                var shape = IterationShape.Decode(b, 0) with { DecodeContextTokens = contextSum + (long)b * steps };
                // Priced step by step, so a timed model (measured host time) learns when each step begins, as in Launch.
                _timed?.BeginIteration(t, shape);
                var c = _cost.Estimate(shape);
                if (!(c.Seconds > 0) || !(t + c.Seconds < horizon)) break;
                _power?.AddBusy(t, t + c.Seconds, c.Joules);
                t += c.Seconds;
                j += c.Joules;
                cs += c.CommSeconds;
                cj += c.CommJoules;
                pricing = steps == 0 ? c.Pricing : PricingClasses.Worse(pricing, c.Pricing);
                steps++;
            }
            if (steps == 0) return now;
            run = new IterationCost(t - now, j) { CommSeconds = cs, CommJoules = cj, Pricing = pricing };
        }
        Iterations += steps;
        ComputedTokens += (long)b * steps;
        BusySeconds += run.Seconds;
        BusyJoules += run.Joules;
        CommJoules += run.CommJoules;
        PricedJoules[(int)run.Pricing] += run.Joules;
        var end = now + run.Seconds;
        LastBusyEnd = end;
        // Each sequence's share: its marginal cost, which differs from the mean only by its context's offset.
        var mean = (double)contextSum / b;
        var slope = _attribution.Slope(_cost, b, contextSum + (long)b * (steps / 2), out _);
        if (_continuous.CohortActive) ChargeDecodeRunWithCohort(run.Joules, b, contextSum, mean, slope);
        else
        {
            double sum = 0;
            for (var i = 0; i < b; i++)
            {
                var w = 1 + slope * (_pool[_continuous.Running(i)].Computed + 1 - mean);
                sum += Math.Max(0, w);
            }
            for (var i = 0; i < b; i++)
            {
                var s = _continuous.Running(i);
                var w = Math.Max(0, 1 + slope * (_pool[s].Computed + 1 - mean));
                _energy[s] += run.Joules * (sum > 0 ? w / sum : 1.0 / b);
            }
        }
        _continuous.CommitDecodeRun(steps);
        OutstandingDecodeTokens -= (long)b * steps;
        return end;
    }

    // The decode cohort's share of an iteration: p + q x context for every member through the scheduler's running
    // sums, or one by one where a marginal may be clamped at zero.
    private void ChargeCohort(in EnergyAttribution.Weighting weighting, double joules)
    {
        var c = _continuous!;
        if (!weighting.CohortScanned)
        {
            var (p, q) = weighting.CohortLine;
            c.AccrueCohort(joules * p, joules * q);
            return;
        }
        for (var i = 0; i < c.RunningEntries; i++)
            if (c.TryGetRunning(i, out var slot, out var computed, out var inCohort) && inCohort)
                _pool[slot].Accrued += joules * weighting.DecodeShare(computed + 1L);
    }

    // A decode run's energy over running sequences some of which are cohort members: weight 1 + slope x (context -
    // mean), normalised; in closed form for the members unless a weight may be clamped at zero.
    private void ChargeDecodeRunWithCohort(double joules, int b, long contextSum, double mean, double slope)
    {
        var c = _continuous!;
        var (lo, hi) = c.CohortContextBounds;
        for (var k = 0; k < c.ExplicitCount; k++)
        {
            long ctx = _pool[c.Explicit(k)].Computed + 1L;
            lo = Math.Min(lo, ctx);
            hi = Math.Max(hi, ctx);
        }
        var lowest = 1 + slope * ((slope >= 0 ? lo : hi) - mean);
        if (lowest > 0)
        {
            var sum = b + slope * (contextSum - b * mean);
            for (var k = 0; k < c.ExplicitCount; k++)
            {
                var s = c.Explicit(k);
                _energy[s] += joules * (1 + slope * (_pool[s].Computed + 1 - mean)) / sum;
            }
            c.AccrueCohort(joules * (1 - slope * mean) / sum, joules * slope / sum);
            return;
        }
        double total = 0;
        for (var i = 0; i < c.RunningEntries; i++)
            if (c.TryGetRunning(i, out _, out var computed, out _)) total += Math.Max(0, 1 + slope * (computed + 1 - mean));
        for (var i = 0; i < c.RunningEntries; i++)
        {
            if (!c.TryGetRunning(i, out var s, out var computed, out var inCohort)) continue;
            var w = Math.Max(0, 1 + slope * (computed + 1 - mean));
            var e = joules * (total > 0 ? w / total : 1.0 / b);
            if (inCohort) _pool[s].Accrued += e;
            else _energy[s] += e;
        }
    }

    public InstanceStats Stats(double endTime) => new(
        Index, Iterations, BusySeconds, BusyJoules, IdleJoules(endTime), Preemptions,
        TotalBlocks > 0 ? (double)PeakBlocksUsed / TotalBlocks : 0, RequestsRouted)
    {
        ParkedSeconds = ParkedSeconds, WakingSeconds = WakingSeconds, WakingJoules = WakingJoules, Wakes = Wakes,
    };

    /// <summary>Idle energy over [0, <paramref name="endTime"/>]: idle power while loaded and not iterating (not parked, not waking).</summary>
    public double IdleJoules(double endTime) => Math.Max(0, endTime - BusySeconds - ParkedSeconds - WakingSeconds) * _cost.IdleWatts;

    /// <summary>GPU energy of cold starts (idle power while waking).</summary>
    public double WakingJoules => WakingSeconds * _cost.IdleWatts;
}

/// <summary>Told about every request the moment it finishes or is rejected.</summary>
public interface IRequestObserver
{
    void OnFinished(in RequestResult result);
}
