using System.Collections.Concurrent;
using System.Diagnostics;
using Joules.Profiles;
using Joules.Scheduling;
using Joules.Serving.Engines;

namespace Joules.Serving.Loop;

/// <summary>A request the server refuses before queueing it, with the request field to blame (OpenAI's "param").</summary>
public sealed class RequestRejectedException(string message, string? param, int status = 400) : Exception(message)
{
    public string? Param { get; } = param;
    public int Status { get; } = status;
}

/// <summary>What the loop reports to /metrics: a consistent snapshot taken once per iteration.</summary>
public sealed record LoopSnapshot
{
    public int Running { get; init; }
    public int Waiting { get; init; }
    public int KvBlocksTotal { get; init; }
    public int KvBlocksUsed { get; init; }
    public double KvUsage => KvBlocksTotal > 0 ? (double)KvBlocksUsed / KvBlocksTotal : 0;
    public long Preemptions { get; init; }
    public long PromptTokens { get; init; }
    public long GenerationTokens { get; init; }
    public long RequestsFinished { get; init; }
    public long RequestsAborted { get; init; }
    public long Iterations { get; init; }
    /// <summary>Wall time inside engine calls.</summary>
    public double EngineSeconds { get; init; }
    /// <summary>The device's part of it.</summary>
    public double DeviceSeconds { get; init; }
    /// <summary>Host time between and around iterations while work was waiting (see <see cref="IterationRecord.HostS"/>).</summary>
    public double HostSeconds { get; init; }
    /// <summary>Iterations whose host time is counted (those not following an idle wait).</summary>
    public long HostIterations { get; init; }
    public long GraphIterations { get; init; }
    /// <summary>The engine's failure, once it failed (the loop then serves nothing).</summary>
    public string? Failure { get; init; }
}

/// <summary>
/// The real-time serving loop: one thread that, while requests are resident, asks the scheduler (the simulator's,
/// <see cref="ContinuousScheduler"/> or <see cref="StaticScheduler"/>) for the next iteration, runs it on the engine,
/// commits it, and streams each sampled token to its request; finished and aborted requests free their KV blocks. The
/// scheduler has no clock: this loop stamps every event with its own.
/// </summary>
public sealed class ServingLoop : IDisposable
{
    private readonly IIterationEngine _engine;
    private readonly IBatchScheduler _sched;
    private readonly KvBlockManager _kv;
    private readonly SequencePool _pool = new();
    private readonly ScheduledBatch _batch = new();
    private readonly ConcurrentQueue<ServingRequest> _incoming = new();
    private readonly ConcurrentQueue<ServingRequest> _aborts = new();
    private readonly ManualResetEventSlim _wake = new(false);
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly Thread _thread;
    private readonly ICostModel? _predict;
    private readonly IIterationObserver? _observer;
    private readonly HashSet<int> _eos;
    private ServingRequest?[] _bySlot = new ServingRequest?[64];
    private int[]?[] _tokens = new int[64][];
    private int[] _sampled = new int[64];
    private readonly List<ServingRequest> _stopped = new();
    private volatile bool _stopping;
    private volatile bool _quit;
    private volatile LoopSnapshot _snapshot;
    private long _resident;
    private long _preemptions, _promptTokens, _genTokens, _finished, _aborted, _iterations, _hostIterations, _graphIterations;
    private double _engineS, _deviceS, _hostS;
    private volatile string? _failure;
    // Set by DrainAsync when its timeout passed: the loop aborts every resident request, giving this as the reason.
    private volatile string? _abortAll;

    /// <param name="engine">Runs iterations.</param>
    /// <param name="scheduler">Scheduler limits (the engine's block size must match).</param>
    /// <param name="predict">Cost model whose price of each iteration goes to the observer beside the measured time (optional).</param>
    /// <param name="observer">Told about every iteration (optional).</param>
    /// <param name="eosTokens">Token ids that end a request unless it ignores EOS.</param>
    public ServingLoop(IIterationEngine engine, SchedulerConfig scheduler, ICostModel? predict = null, IIterationObserver? observer = null,
        IEnumerable<int>? eosTokens = null)
    {
        scheduler.Validate();
        _engine = engine;
        Config = scheduler;
        _kv = new KvBlockManager(engine.KvBlocks, scheduler.BlockSize, scheduler.PrefixCaching, scheduler.HashBlockTokens);
        _sched = scheduler.Static ? new StaticScheduler(scheduler, _kv, _pool) : new ContinuousScheduler(scheduler, _kv, _pool);
        _predict = predict;
        _observer = observer;
        _eos = eosTokens is null ? [] : [.. eosTokens];
        _snapshot = new LoopSnapshot { KvBlocksTotal = _kv.Total };
        _thread = new Thread(Run) { IsBackground = true, Name = "joules serving loop" };
        _thread.Start();
    }

    public SchedulerConfig Config { get; }
    public IIterationEngine Engine => _engine;
    /// <summary>Seconds since the loop started: the clock every token is stamped with.</summary>
    public double Now => _clock.Elapsed.TotalSeconds;
    public LoopSnapshot Snapshot => _snapshot;
    /// <summary>Requests queued or running (not yet finished).</summary>
    public long Resident => Interlocked.Read(ref _resident);
    public bool Stopping => _stopping;

    /// <summary>Queues a request, or refuses it (too long for max-model-len or the KV cache, server stopping, engine failed).</summary>
    /// <summary>
    /// Response header holding <see cref="ServingRequest.QueueOrder"/>. Concurrent HTTP handlers reach the scheduler in
    /// an order of their own (2,000 requests sent within 0.2 s were admitted uncorrelated with the send order), so a
    /// validation that admits first come, first served in send order would compare other queues; `joules replay`
    /// records the header and `joules validate --arrivals received` admits in its order.
    /// </summary>
    public const string QueueOrderHeader = "x-joules-queue-order";

    private readonly object _submitLock = new();
    private long _submitted;

    public void Submit(ServingRequest r)
    {
        if (_failure is { } f) throw new RequestRejectedException($"the engine failed and serves no more requests: {f}", null, 500);
        if (_stopping) throw new RequestRejectedException("the server is shutting down and accepts no new requests", null, 503);
        var total = (long)r.PromptTokens + r.MaxTokens;
        if (total > Config.MaxModelLen)
        {
            var blame = r.PromptTokens >= Config.MaxModelLen ? "prompt" : "max_tokens";
            throw new RequestRejectedException(
                $"This model's maximum context length is {Config.MaxModelLen} tokens. However, you requested {total} tokens " +
                $"({r.PromptTokens} in the prompt, {r.MaxTokens} in the completion). Please reduce the length of the prompt or completion.", blame);
        }
        if (_kv.BlocksFor(total) > _kv.Total)
            throw new RequestRejectedException(
                $"the request needs {_kv.BlocksFor(total)} KV blocks for {total} tokens, more than the server's whole cache of {_kv.Total} blocks", "max_tokens");
        foreach (var t in r.Tokens.AsSpan(0, r.PromptTokens))
            if ((uint)t >= (uint)_engine.Vocab) throw new RequestRejectedException($"token id {t} is outside the vocabulary (0 to {_engine.Vocab - 1})", "prompt");
        r.QueuedS = Now;
        Interlocked.Increment(ref _resident);
        // Numbered and queued under one lock, so the numbers are the order the scheduler will see them in.
        lock (_submitLock)
        {
            r.QueueOrder = ++_submitted;
            _incoming.Enqueue(r);
        }
        _wake.Set();
    }

    /// <summary>Stops a request wherever it is (a client went away): its KV blocks are freed and its stream ends with <see cref="FinishReason.Abort"/>.</summary>
    public void Abort(ServingRequest r)
    {
        _aborts.Enqueue(r);
        _wake.Set();
    }

    /// <summary>Refuses new requests and waits until every resident one has finished, or <paramref name="timeout"/> passed (then the rest are aborted).</summary>
    public async Task DrainAsync(TimeSpan timeout, CancellationToken cancel = default)
    {
        _stopping = true;
        var deadline = Stopwatch.StartNew();
        while (Resident > 0 && deadline.Elapsed < timeout && _failure is null) await Task.Delay(20, cancel);
        var why = $"the server shut down: the request was still running when the drain timeout ({timeout.TotalSeconds.ToString("0.###", System.Globalization.CultureInfo.InvariantCulture)} s) passed";
        // Asked again on every turn: a request that passed Submit's check just before the drain began may reach the loop
        // only after an earlier request to abort everything was carried out.
        while (Resident > 0 && _failure is null)
        {
            _abortAll = why;
            _wake.Set();
            await Task.Delay(5, cancel);
        }
    }

    private void Run()
    {
        double lastEnd = double.NaN;
        while (!_quit)
        {
            TakeIncoming();
            TakeAborts();
            if (_failure is not null)
            {
                _wake.Wait(50);
                _wake.Reset();
                continue;
            }
            _sched.Schedule(_batch);
            if (_batch.IsEmpty)
            {
                Publish();
                lastEnd = double.NaN;
                _wake.Wait(50);
                _wake.Reset();
                continue;
            }
            try
            {
                lastEnd = Iterate(lastEnd);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                Fail(e);
            }
        }
    }

    private double Iterate(double lastEnd)
    {
        var start = Now;
        for (var i = 0; i < _batch.AdmittedCount; i++)
        {
            var r = _bySlot[_batch.Admitted(i)]!;
            if (double.IsNaN(r.FirstScheduledS)) r.FirstScheduledS = start;
        }
        for (var i = 0; i < _batch.PreemptedCount; i++) _bySlot[_batch.Preempted(i)]!.Preemptions++;
        _preemptions += _batch.PreemptedCount;
        if (_sampled.Length < _batch.Count) _sampled = new int[Math.Max(_batch.Count, _sampled.Length * 2)];
        var step = _engine.Run(_batch, _pool, _tokens, _sampled);
        var end = Now;
        var shape = _batch.Shape;
        var preempted = _batch.PreemptedCount;
        var maxDecode = 0;
        for (var e = 0; e < _batch.Count; e++)
            if (_batch.IsDecode(e)) maxDecode = Math.Max(maxDecode, _batch.ContextBefore(e) + 1);
        _sched.Commit(_batch);
        for (var e = 0; e < _batch.Count; e++)
        {
            var o = _batch.Outcome(e);
            if ((o & StepOutcome.Token) == 0) continue;
            var s = _batch.Slot(e);
            var r = _bySlot[s]!;
            if (r.Done) continue;
            var token = _sampled[e];
            r.Tokens[r.PromptTokens + r.Generated] = token;
            r.Generated++;
            _genTokens++;
            if ((o & StepOutcome.FirstToken) != 0)
            {
                r.FirstTokenS = end;
                _promptTokens += r.PromptTokens;
            }
            var finish = (o & StepOutcome.Finished) != 0 ? FinishReason.Length
                : !r.IgnoreEos && r.Generated >= r.MinTokens && _eos.Contains(token) ? FinishReason.Stop
                : FinishReason.None;
            r.Emit(new TokenEvent(token, end, finish));
            if (finish == FinishReason.Stop) _stopped.Add(r);
        }
        for (var i = 0; i < _batch.FinishedCount; i++)
        {
            var s = _batch.Finished(i);
            if (_bySlot[s] is { } r) Complete(r, FinishReason.Length);
            _bySlot[s] = null;
            _tokens[s] = null;
        }
        _sched.ReleaseFinished(_batch);
        foreach (var r in _stopped)
        {
            // An EOS before max_tokens: the sequence leaves the scheduler like an aborted one.
            var s = r.Slot;
            _sched.Abort(s);
            _bySlot[s] = null;
            _tokens[s] = null;
            Complete(r, FinishReason.Stop);
        }
        _stopped.Clear();

        var gap = double.IsNaN(lastEnd) ? double.NaN : start - lastEnd;
        double predS = double.NaN, predJ = double.NaN;
        if (_predict is not null)
        {
            var c = _predict.Estimate(shape);
            predS = c.Seconds;
            predJ = c.Joules;
        }
        var rec = new IterationRecord(start, end - start, step.DeviceSeconds, gap, shape, predS, predJ, preempted, step.Graph, maxDecode);
        _iterations++;
        if (step.Graph) _graphIterations++;
        _engineS += rec.EngineS;
        _deviceS += rec.DeviceS;
        if (!double.IsNaN(gap))
        {
            _hostS += rec.HostS;
            _hostIterations++;
        }
        _observer?.OnIteration(rec);
        Publish();
        // The next iteration's gap counts from the engine's return, so the commit and streaming above (where a preempted
        // loop thread loses milliseconds on a loaded machine) are host time too, not time counted nowhere.
        return end;
    }

    // Length and Stop were announced on the token's own event; completing only closes the stream.
    private void Complete(ServingRequest r, FinishReason reason)
    {
        if (r.Done) return;
        r.Finish = reason;
        r.Close();
        _finished++;
        Interlocked.Decrement(ref _resident);
    }

    private void TakeIncoming()
    {
        while (_incoming.TryDequeue(out var r))
        {
            if (_failure is not null) { Drop(r, FinishReason.Error, _failure); continue; }
            var s = _pool.Add(r.Id, r.PromptTokens, r.MaxTokens, null);
            if (s >= _bySlot.Length)
            {
                var n = Math.Max(_pool.Capacity, s + 1);
                Array.Resize(ref _bySlot, n);
                Array.Resize(ref _tokens, n);
            }
            _bySlot[s] = r;
            _tokens[s] = r.Tokens;
            r.Slot = s;
            _sched.AddWaiting(s);
        }
    }

    private void TakeAborts()
    {
        while (_aborts.TryDequeue(out var r)) AbortNow(r, null);
        if (_abortAll is not { } why) return;
        _abortAll = null;
        for (var s = 0; s < _bySlot.Length; s++)
            if (_bySlot[s] is { } r) AbortNow(r, why);
    }

    // Leaves the scheduler wherever it is, frees its KV blocks and ends its stream with FinishReason.Abort.
    private void AbortNow(ServingRequest r, string? why)
    {
        if (r.Done || r.Slot < 0 || !ReferenceEquals(_bySlot[r.Slot], r)) return;
        _sched.Abort(r.Slot);
        _bySlot[r.Slot] = null;
        _tokens[r.Slot] = null;
        Drop(r, FinishReason.Abort, why);
        _aborted++;
    }

    private void Drop(ServingRequest r, FinishReason reason, string? error)
    {
        r.End(reason, Now, error);
        Interlocked.Decrement(ref _resident);
    }

    private void Fail(Exception e)
    {
        _failure = e.Message;
        for (var s = 0; s < _bySlot.Length; s++)
        {
            if (_bySlot[s] is not { } r) continue;
            _bySlot[s] = null;
            if (!r.Done) Drop(r, FinishReason.Error, e.Message);
        }
        Publish();
    }

    private void Publish() => _snapshot = new LoopSnapshot
    {
        Running = _sched.RunningCount,
        Waiting = _sched.WaitingCount + _incoming.Count,
        KvBlocksTotal = _kv.Total,
        KvBlocksUsed = _kv.Used,
        Preemptions = _preemptions,
        PromptTokens = _promptTokens,
        GenerationTokens = _genTokens,
        RequestsFinished = _finished,
        RequestsAborted = _aborted,
        Iterations = _iterations,
        EngineSeconds = _engineS,
        DeviceSeconds = _deviceS,
        HostSeconds = _hostS,
        HostIterations = _hostIterations,
        GraphIterations = _graphIterations,
        Failure = _failure,
    };

    public void Dispose()
    {
        _quit = true;
        _wake.Set();
        _thread.Join();
        for (var s = 0; s < _bySlot.Length; s++)
            if (_bySlot[s] is { Done: false } r) r.End(FinishReason.Abort, Now);
        _wake.Dispose();
    }
}
