using Joules.Profiles;
using Joules.Scheduling;
using Joules.Simulation.Autoscaling;
using Joules.Simulation.Engine;
using Joules.Simulation.Kernel;
using Joules.Traces;

namespace Joules.Simulation;

/// <summary>How far a run has got, for progress displays.</summary>
public readonly record struct SimulationProgress(long RequestsArrived, long RequestsFinished, double SimulatedSeconds);

/// <summary>Switches that change how the simulator computes, never what it computes (the tests compare both settings).</summary>
public sealed record SimulationOptions
{
    /// <summary>Price steady decode phases in closed form and commit them in bulk.</summary>
    public bool FastDecodeRuns { get; init; } = true;
    /// <summary>With <see cref="FastDecodeRuns"/>, advance steady decodes of mixed iterations as a cohort (exact; off only to check that it is).</summary>
    public bool DeferDecodes { get; init; } = true;
    /// <summary>Fewest decoding sequences worth a decode cohort (null: the scheduler's default); tests lower it.</summary>
    public int? CohortMinimum { get; init; }
    /// <summary>Bring every instance up to every arrival, not only those whose router-visible state may have changed (the plain reference the fast path is checked against).</summary>
    public bool CatchUpEveryInstance { get; init; }
    /// <summary>Charge each request its marginal cost in an iteration (false: its token share).</summary>
    public bool CausalAttribution { get; init; } = true;
}

/// <summary>
/// Replays a request stream through a cluster of identical instances behind a router. Time advances by
/// arrivals: one pending arrival event on the event kernel; each instance keeps its own clock and is brought up
/// to an arrival only when the router needs it (see <see cref="Instance.AdvanceTo"/>). The trace is pulled one
/// request at a time, per-request results go to the sink as they happen, and only running and queued requests
/// are held in memory.
/// </summary>
public sealed class ClusterSimulation : IRequestObserver
{
    private readonly ClusterConfig _cfg;
    private readonly Deployment _deployment;
    private readonly ICostModel _cost;
    private readonly ISimulationSink? _sink;
    private readonly MetricsCollector _metrics;
    private readonly SimEnvironment _env = new();
    private readonly Instance[] _instances;
    private readonly PowerTimeline[]? _power;
    private readonly IRouter _router;
    private readonly SimulationOptions _options;
    // Instances by the time their router-visible state may next change: an arrival brings up only those before it.
    private readonly IndexedMinHeap _changes;
    private readonly IAutoscaler? _autoscaler;
    private ScalingController? _scaling;
    private long _finished;
    private readonly string _clockSuffix;

    /// <param name="cfg">The deployment and its serving policy.</param>
    /// <param name="cost">Prices iterations (shared by all instances); must price <paramref name="cfg"/>'s deployment.</param>
    /// <param name="sink">Receives per-request results and power samples.</param>
    /// <param name="options">How to compute (defaults: all fast paths on).</param>
    public ClusterSimulation(ClusterConfig cfg, ICostModel cost, ISimulationSink? sink = null, SimulationOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(cfg);
        ArgumentNullException.ThrowIfNull(cost);
        _deployment = cfg.Deployment ?? Deployment.Of(cost);
        cfg = cfg with { Deployment = _deployment };
        cfg.Validate();
        if (!string.Equals(cost.Model.Name, _deployment.Model.Name, StringComparison.OrdinalIgnoreCase) || cost.TensorParallel != _deployment.TensorParallel)
            throw new ArgumentException($"cost model '{cost.Name}' prices {cost.Model.Name} at tp {cost.TensorParallel}, but the scenario deploys {_deployment}");
        _cfg = cfg;
        _cost = cost;
        _sink = sink;
        _options = options ?? new SimulationOptions();
        _metrics = new MetricsCollector(cfg.Slo);
        var blocks = cfg.Engine.KvBlocks(_deployment.Gpu, _deployment.Shard);
        var scheduler = cfg.Engine.Scheduler(_deployment.Model.MaxContext);
        _instances = new Instance[cfg.Instances];
        _router = Routers.Create(cfg, cost);
        if (sink is { WantsPower: true }) _power = new PowerTimeline[cfg.Instances];
        // Under a clock governor each instance gets its own governed cost model (it keeps the instance's clock).
        var (instanceCost, clockSuffix) = Clocks.ClockGovernors.Factory(cfg.Clock, cost, cfg.Slo);
        _clockSuffix = clockSuffix;
        for (var i = 0; i < cfg.Instances; i++)
        {
            PowerTimeline? p = null;
            if (_power != null) p = _power[i] = new PowerTimeline(i, cfg.PowerBinSeconds, cost.IdleWatts, sink!);
            _instances[i] = new Instance(i, instanceCost(), scheduler, blocks, this, p, _options.FastDecodeRuns, _options.CausalAttribution, _options.DeferDecodes, _options.CohortMinimum);
        }
        KvBlocksPerInstance = blocks;
        MaxModelLen = scheduler.MaxModelLen;
        _changes = new IndexedMinHeap(cfg.Instances, IndexedMinHeap.Order(double.PositiveInfinity));
        _autoscaler = Autoscalers.Create(cfg.Autoscaler, cfg.Instances, cost, cfg.Engine, cfg.Slo);
    }

    /// <summary>The autoscaling in effect, once the run has started (null for a fixed fleet).</summary>
    public ScalingController? Scaling => _scaling;

    // After instance i was brought up to `now` (nothing before it is left to process) or handed a request.
    private void Touched(int i, double now = 0)
    {
        _changes.Update(i, IndexedMinHeap.Order(Math.Max(now, _instances[i].NextObservableChange)));
        _router.Observe(i, _instances[i]);
    }

    public int KvBlocksPerInstance { get; }
    public int MaxModelLen { get; }
    public IReadOnlyList<Instance> Instances => _instances;

    /// <summary>Convenience: build and run in one call.</summary>
    public static SimulationSummary Run(ClusterConfig cfg, ICostModel cost, IEnumerable<TraceRequest> trace,
        ISimulationSink? sink = null, Action<SimulationProgress>? progress = null, SimulationOptions? options = null) =>
        new ClusterSimulation(cfg, cost, sink, options).Run(trace, progress);

    void IRequestObserver.OnFinished(in RequestResult result)
    {
        _finished++;
        _metrics.Add(result);
        _sink?.OnRequest(result);
    }

    /// <summary>Runs the whole trace to completion. Call once.</summary>
    public SimulationSummary Run(IEnumerable<TraceRequest> trace, Action<SimulationProgress>? progress = null, CancellationToken cancel = default)
    {
        var wall = System.Diagnostics.Stopwatch.StartNew();
        using var e = trace.GetEnumerator();
        var arrivals = new ArrivalProcess(this, e, progress, cancel);
        arrivals.Start();
        if (_autoscaler != null)
        {
            _scaling = new ScalingController(_autoscaler, _cfg.Autoscaler, _instances, _env, _deployment, arrivals.OriginMicros, Touched);
            _scaling.Start();
        }
        _env.Run();
        foreach (var inst in _instances) inst.AdvanceTo(double.PositiveInfinity);
        var end = _env.Now;
        foreach (var inst in _instances) end = Math.Max(end, inst.LastBusyEnd);
        foreach (var inst in _instances) inst.FinishStates(end);
        if (_power != null) foreach (var p in _power) p.Finish(end);
        return Summarise(arrivals.Arrived, end, wall.Elapsed.TotalSeconds);
    }

    private SimulationSummary Summarise(long total, double end, double wallSeconds)
    {
        var stats = new InstanceStats[_instances.Length];
        double busyJ = 0, idleJ = 0, busyFrac = 0, peakKv = 0, savedJ = 0, commJ = 0, hostJ = 0, wakingJ = 0, onSeconds = 0;
        var wakes = 0;
        var priced = new double[5];
        var node = _deployment.Node;
        var tp = _deployment.TensorParallel;
        long iterations = 0, preemptions = 0, queried = 0, hits = 0, preemptedHits = 0, computed = 0;
        for (var i = 0; i < _instances.Length; i++)
        {
            var inst = _instances[i];
            var s = stats[i] = inst.Stats(end);
            busyJ += s.BusyJoules;
            idleJ += s.IdleJoules;
            busyFrac += end > 0 ? s.BusySeconds / end : 0;
            peakKv = Math.Max(peakKv, s.PeakKvFraction);
            iterations += s.Iterations;
            preemptions += s.Preemptions;
            queried += inst.Kv.QueriedTokens;
            computed += inst.ComputedTokens;
            hits += inst.Kv.HitTokens;
            preemptedHits += inst.Kv.PreemptedHitTokens;
            savedJ += inst.PrefixSavedJoules;
            commJ += inst.CommJoules;
            wakingJ += s.WakingJoules;
            wakes += s.Wakes;
            onSeconds += end - s.ParkedSeconds;
            for (var k = 0; k < priced.Length; k++) priced[k] += inst.PricedJoules[k];
            if (node != null)
            {
                // Host power is linear in the busy fraction and in GPU power (power-supply loss), so integrate it exactly:
                // idle host watts over the whole span, the busy increment over busy time, the loss on the GPUs' energy.
                double h0 = node.HostWattsPerGpu(0), h1 = node.HostWattsPerGpu(1);
                hostJ += tp * (h0 * end + (h1 - h0) * s.BusySeconds) + node.PsuLossFraction * (s.BusyJoules + s.IdleJoules + s.WakingJoules);
            }
        }
        double Frac(long met) => total > 0 ? (double)met / total : double.NaN;
        return new SimulationSummary
        {
            Name = _cfg.Name,
            CostModel = (_cfg.CostModelLabel ?? _cost.Name) + _clockSuffix,
            CostModelKind = _cfg.CostModelLabel != null ? "roofline" : CostModelKinds.Of(_cost),
            Gpu = _deployment.Gpu.Name,
            Model = _deployment.Model.Name,
            TensorParallel = _deployment.TensorParallel,
            Instances = _instances.Length,
            Router = _router.Name,
            Batching = _cfg.Engine.BatchingName,
            Mode = _cfg.Mode == ArrivalMode.Offline ? "offline" : "online",
            MaxNumSeqs = _cfg.Engine.MaxNumSeqs,
            MaxNumBatchedTokens = _cfg.Engine.MaxNumBatchedTokens,
            MaxModelLen = MaxModelLen,
            KvBlocksPerInstance = KvBlocksPerInstance,
            PrefixCaching = _cfg.Engine.PrefixCaching && _cfg.Engine.Batching == BatchingKind.Continuous,
            RequestsTotal = total,
            RequestsCompleted = _metrics.Completed,
            RequestsRejected = _metrics.Rejected,
            RejectedMaxModelLen = _metrics.RejectedMaxModelLen,
            RejectedKvCapacity = _metrics.RejectedKvCapacity,
            InputTokens = _metrics.InputTokens,
            OutputTokens = _metrics.OutputTokens,
            SimulatedSeconds = end,
            WallSeconds = wallSeconds,
            Iterations = iterations,
            ComputedTokens = computed,
            Events = _env.ProcessedEvents,
            BusyJoules = busyJ,
            IdleJoules = idleJ,
            AttributedJoules = _metrics.AttributedJoules,
            PrefixQueriedTokens = queried,
            PrefixHitTokens = hits,
            PrefixPreemptedHitTokens = preemptedHits,
            PrefixSavedJoules = savedJ,
            CommJoules = commJ,
            WakingJoules = wakingJ,
            ColdStarts = wakes,
            GpuHours = onSeconds * tp / 3600,
            Autoscaler = _scaling?.PolicyName ?? AutoscalerNames.Fixed,
            ScaleEvents = _scaling?.Events.Count ?? 0,
            MeanInstances = _scaling?.MeanInstances(end) ?? _instances.Length,
            ColdStartSeconds = _scaling?.ColdStartSeconds ?? 0,
            HostJoules = hostJ,
            Node = node?.Name,
            PricedExactJoules = priced[(int)PricingClass.Exact],
            PricedInterpolatedJoules = priced[(int)PricingClass.Interpolated],
            PricedFittedJoules = priced[(int)PricingClass.Fitted],
            PricedExtrapolatedJoules = priced[(int)PricingClass.Extrapolated],
            PricedModelJoules = priced[(int)PricingClass.Model],
            Pue = _cfg.Facility.Pue,
            CarbonGramsPerKwh = _cfg.Facility.CarbonGramsPerKwh,
            CarbonSet = _cfg.CarbonSet || _cfg.Facility.CarbonGramsPerKwh > 0,
            PriceSet = _cfg.PriceSet || _cfg.Facility.PricePerKwh > 0,
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
    private sealed class ArrivalProcess(ClusterSimulation sim, IEnumerator<TraceRequest> source, Action<SimulationProgress>? progress, CancellationToken cancel) : IEventTarget
    {
        private TraceRequest _next;
        private long _origin;
        private long _lastMicros = long.MinValue;
        public long Arrived { get; private set; }
        /// <summary>Absolute arrival time of the first request (µs since the Unix epoch), the origin of simulated time.</summary>
        public long OriginMicros => _origin;

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
            sim._env.ScheduleAt(t, this);
        }

        public void OnEvent(SimEnvironment env, long arg)
        {
            var r = _next;
            if (r.InputTokens < 0 || r.OutputTokens < 0)
                throw new InvalidDataException($"request {r.RequestId}: token counts must not be negative (input {r.InputTokens}, output {r.OutputTokens})");
            var instances = sim._instances;
            var now = env.Now;
            var view = sim._router.Reads;
            if (sim._options.CatchUpEveryInstance || view == RouterView.Internal)
            {
                for (var k = 0; k < instances.Length; k++) { instances[k].AdvanceTo(now); if (view != RouterView.None) sim.Touched(k, now); }
            }
            else if (view == RouterView.Observable)
            {
                var changes = sim._changes;
                var limit = IndexedMinHeap.Order(now);
                while (changes.MinKey < limit)
                {
                    var k = changes.Min;
                    instances[k].AdvanceTo(now);
                    sim.Touched(k, now);
                }
            }
            var i = sim._router.Route(r.RequestId, r.InputTokens, r.OutputTokens, instances);
            if (sim._scaling is { } scaling)
            {
                scaling.OnArrival(r.InputTokens, r.OutputTokens);
                // Nothing serving (scaled to zero, or every instance waking): the request waits on a cold start.
                if (!instances[i].Routable) i = scaling.ColdTarget(now);
            }
            instances[i].AdvanceTo(now);
            instances[i].Enqueue(now, r.RequestId, r.InputTokens, r.OutputTokens, r.HashIds);
            if (view != RouterView.None) sim.Touched(i, now);
            Arrived++;
            if ((Arrived & 0xFFF) == 0)
            {
                cancel.ThrowIfCancellationRequested();
                progress?.Invoke(new SimulationProgress(Arrived, sim._finished, now));
            }
            if (source.MoveNext())
            {
                _next = source.Current;
                ScheduleNext();
            }
            else sim._scaling?.TraceDone();
        }
    }
}
