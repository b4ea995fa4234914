using Joules.Profiles;
using Joules.Simulation.Engine;
using Joules.Simulation.Kernel;
using Joules.Traces;

namespace Joules.Simulation;

/// <summary>How far a run has got, for progress displays.</summary>
public readonly record struct SimulationProgress(long RequestsArrived, long RequestsFinished, double SimulatedSeconds);

/// <summary>
/// Replays a request stream through a cluster of identical instances behind a router. The trace is
/// pulled one request at a time (one pending arrival event), per-request results go to the sink as
/// they happen, and only running and queued requests are held in memory.
/// </summary>
public sealed class ClusterSimulation : IRequestObserver
{
    private readonly ClusterConfig _cfg;
    private readonly ICostModel _cost;
    private readonly ISimulationSink? _sink;
    private readonly MetricsCollector _metrics;
    private readonly SimEnvironment _env = new();
    private readonly Instance[] _instances;
    private readonly PowerTimeline[]? _power;
    private readonly IRouter _router;
    private readonly bool _lazy;
    private readonly bool _catchUpAll;
    private long _finished;
    private readonly ArrivalHorizon _horizon = new();

    private sealed class ArrivalHorizon : IArrivalHorizon
    {
        public double NextArrivalTime { get; set; } = double.PositiveInfinity;
    }

    /// <param name="cfg">The deployment.</param>
    /// <param name="cost">Prices iterations (shared by all instances).</param>
    /// <param name="sink">Receives per-request results and power samples.</param>
    /// <param name="allowLazy">Drive instances lazily: they keep no events and catch up to an arrival only when handed a request, or, for routers that read instance state, all of them before routing (same results, far fewer events). False drives them by events (one per run of iterations up to the next arrival).</param>
    public ClusterSimulation(ClusterConfig cfg, ICostModel cost, ISimulationSink? sink = null, bool allowLazy = true)
    {
        ArgumentNullException.ThrowIfNull(cfg);
        ArgumentNullException.ThrowIfNull(cost);
        cfg.Validate();
        _cfg = cfg;
        _cost = cost;
        _sink = sink;
        _metrics = new MetricsCollector(cfg.Slo);
        var blocks = cfg.Engine.KvBlocks(cost.Gpu, cost.Model.Shard(cost.TensorParallel));
        _instances = new Instance[cfg.Instances];
        _router = Routers.Create(cfg.Router, cost, cfg);
        _lazy = allowLazy;
        _catchUpAll = _lazy && _router.ReadsInstanceState;
        if (sink is { WantsPower: true }) _power = new PowerTimeline[cfg.Instances];
        for (var i = 0; i < cfg.Instances; i++)
        {
            PowerTimeline? p = null;
            if (_power != null) p = _power[i] = new PowerTimeline(i, cfg.PowerBinSeconds, cost.IdleWatts, sink!);
            _instances[i] = new Instance(i, cost, cfg.Engine, blocks, this, p, _horizon) { Lazy = _lazy };
        }
        KvBlocksPerInstance = blocks;
    }

    public int KvBlocksPerInstance { get; }
    public IReadOnlyList<Instance> Instances => _instances;

    /// <summary>Convenience: build and run in one call.</summary>
    public static SimulationSummary Run(ClusterConfig cfg, ICostModel cost, IEnumerable<TraceRequest> trace,
        ISimulationSink? sink = null, Action<SimulationProgress>? progress = null) =>
        new ClusterSimulation(cfg, cost, sink).Run(trace, progress);

    void IRequestObserver.OnFinished(in RequestResult result)
    {
        _finished++;
        _metrics.Add(result);
        _sink?.OnRequest(result);
    }

    /// <summary>Runs the whole trace to completion. Call once.</summary>
    public SimulationSummary Run(IEnumerable<TraceRequest> trace, Action<SimulationProgress>? progress = null)
    {
        var wall = System.Diagnostics.Stopwatch.StartNew();
        using var e = trace.GetEnumerator();
        var arrivals = new ArrivalProcess(this, e, progress);
        arrivals.Start();
        _env.Run();
        if (_lazy) foreach (var inst in _instances) inst.AdvanceTo(double.PositiveInfinity);
        var end = _env.Now;
        foreach (var inst in _instances) end = Math.Max(end, inst.LastBusyEnd);
        if (_power != null) foreach (var p in _power) p.Finish(end);
        var stats = new InstanceStats[_instances.Length];
        double busyJ = 0, idleJ = 0, busyFrac = 0, peakKv = 0;
        long iterations = 0, preemptions = 0;
        for (var i = 0; i < _instances.Length; i++)
        {
            var s = stats[i] = _instances[i].Stats(end);
            busyJ += s.BusyJoules;
            idleJ += s.IdleJoules;
            busyFrac += end > 0 ? s.BusySeconds / end : 0;
            peakKv = Math.Max(peakKv, s.PeakKvFraction);
            iterations += s.Iterations;
            preemptions += s.Preemptions;
        }
        var total = arrivals.Arrived;
        double Frac(long met) => total > 0 ? (double)met / total : double.NaN;
        return new SimulationSummary
        {
            Name = _cfg.Name,
            CostModel = _cost.Name,
            Gpu = _cost.Gpu.Name,
            Model = _cost.Model.Name,
            TensorParallel = _cost.TensorParallel,
            Instances = _instances.Length,
            Router = _router.Name,
            Batching = _cfg.Engine.Batching == BatchingKind.Static ? "static" : (_cfg.Engine.ChunkedPrefill ? "continuous" : "continuous-nochunk"),
            Mode = _cfg.Mode == ArrivalMode.Offline ? "offline" : "online",
            RequestsTotal = total,
            RequestsCompleted = _metrics.Completed,
            RequestsRejected = _metrics.Rejected,
            InputTokens = _metrics.InputTokens,
            OutputTokens = _metrics.OutputTokens,
            SimulatedSeconds = end,
            WallSeconds = wall.Elapsed.TotalSeconds,
            Iterations = iterations,
            Events = _env.ProcessedEvents,
            BusyJoules = busyJ,
            IdleJoules = idleJ,
            AttributedJoules = _metrics.AttributedJoules,
            Pue = _cfg.Facility.Pue,
            CarbonGramsPerKwh = _cfg.Facility.CarbonGramsPerKwh,
            PricePerKwh = _cfg.Facility.PricePerKwh,
            Ttft = Distribution.From(_metrics.Ttft),
            Tpot = Distribution.From(_metrics.Tpot),
            E2e = Distribution.From(_metrics.E2e),
            Queue = Distribution.From(_metrics.Queue),
            TtftTargetS = _cfg.Slo.TtftSeconds,
            TpotTargetS = _cfg.Slo.TpotSeconds,
            SloAttainment = Frac(_metrics.BothMet),
            TtftAttainment = Frac(_metrics.TtftMet),
            TpotAttainment = Frac(_metrics.TpotMet),
            BusyFraction = _instances.Length > 0 ? busyFrac / _instances.Length : 0,
            PeakKvFraction = peakKv,
            Preemptions = preemptions,
            PerInstance = stats,
        };
    }

    /// <summary>The arrival process: one pending event for the next request of the stream; times are relative to the first arrival.</summary>
    private sealed class ArrivalProcess(ClusterSimulation sim, IEnumerator<TraceRequest> source, Action<SimulationProgress>? progress) : IEventTarget
    {
        private TraceRequest _next;
        private long _origin;
        private long _lastMicros = long.MinValue;
        public long Arrived { get; private set; }

        public void Start()
        {
            if (!source.MoveNext()) return;
            _next = source.Current;
            _origin = _next.ArrivalMicros;
            ScheduleNext();
        }

        private void ScheduleNext()
        {
            var micros = _next.ArrivalMicros;
            if (micros < _lastMicros)
                throw new InvalidDataException($"trace is not sorted by arrival time: request {_next.RequestId} arrives at {micros} µs, before the previous request ({_lastMicros} µs)");
            _lastMicros = micros;
            var t = sim._cfg.Mode == ArrivalMode.Offline ? 0.0 : (micros - _origin) / 1e6;
            t = Math.Max(t, sim._env.Now);
            sim._horizon.NextArrivalTime = t;
            sim._env.ScheduleAt(t, this);
        }

        public void OnEvent(SimEnvironment env, long arg)
        {
            var r = _next;
            if (r.InputTokens < 0 || r.OutputTokens < 0)
                throw new InvalidDataException($"request {r.RequestId}: token counts must not be negative (input {r.InputTokens}, output {r.OutputTokens})");
            var instances = sim._instances;
            if (sim._catchUpAll) foreach (var inst in instances) inst.AdvanceTo(env.Now);
            var i = sim._router.Route(r.RequestId, r.InputTokens, r.OutputTokens, instances);
            if (sim._lazy) instances[i].AdvanceTo(env.Now);
            instances[i].Enqueue(env, r.RequestId, r.InputTokens, r.OutputTokens);
            Arrived++;
            if (progress != null && (Arrived & 0xFFFF) == 0) progress(new SimulationProgress(Arrived, sim._finished, env.Now));
            if (source.MoveNext())
            {
                _next = source.Current;
                ScheduleNext();
            }
            else sim._horizon.NextArrivalTime = double.PositiveInfinity;
        }
    }
}
