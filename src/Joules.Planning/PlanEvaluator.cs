using System.Diagnostics;
using Joules.Profiles;
using Joules.Profiles.Derived;
using Joules.Simulation;
using Joules.Traces;
using S = Joules.Simulation.Settings.SimulateSettings;

namespace Joules.Planning;

/// <summary>
/// Evaluates work items: each setting at the instance counts the search asks for, by simulation. With a count range
/// the smallest count that meets the goal is found by bisection (at most 1 + log2(range) simulations), and a
/// simulation stops as soon as more requests have missed their SLOs than the goal allows. Thread-safe: each simulation
/// builds its own cost model, so results do not depend on which thread ran what before.
/// </summary>
public sealed class PlanEvaluator
{
    private readonly PlanHeader _header;
    private readonly PlanSpace _space;
    private readonly PlanGoal _goal;
    private readonly TraceRequest[] _trace;
    private readonly string? _profileRoot;

    /// <param name="header">The plan.</param>
    /// <param name="trace">Its requests (<see cref="PlanTrace.Load"/>).</param>
    /// <param name="profileRoot">Folder of shipped profiles (calibration/), searched for measured and then derived profiles of each GPU.</param>
    public PlanEvaluator(PlanHeader header, TraceRequest[] trace, string? profileRoot)
    {
        _header = header;
        _space = header.Space();
        _goal = header.Goal;
        _goal.Validate();
        _trace = trace;
        _profileRoot = profileRoot;
    }

    /// <summary>
    /// Evaluates a group of settings that differ only in their clock (<see cref="PlanGroups"/>), fastest clock first, pruning
    /// what the faster clocks settle: a slower clock cannot meet a goal a faster one misses at the largest count, nor with
    /// fewer instances than the faster one needed, so its search starts at that count and usually ends there.
    /// </summary>
    public IReadOnlyList<PlanPoint> EvaluateGroup(IReadOnlyList<PlanWorkItem> group, CancellationToken cancel = default)
    {
        var all = new List<PlanPoint>();
        int? floor = null;
        PlanPoint? missedAtTop = null;
        PlanWorkItem? faster = null;
        foreach (var item in group)
        {
            if (missedAtTop != null)
            {
                all.Add(Point(item, missedAtTop.Instances, PlanStatus.Pruned, message:
                    $"not simulated: the faster clock {faster!.Value(ClockDimension.Name)} already misses the goal with {missedAtTop.Instances} instances"));
                continue;
            }
            var points = Evaluate(item, floor, cancel);
            all.AddRange(points);
            if (points.Any(p => p.Status is PlanStatus.Error or PlanStatus.DoesNotFit)) continue;
            var best = points.Where(p => p.Feasible).Select(p => (int?)p.Instances).Min();
            if (best is { } b) floor = b;
            else if (points.FirstOrDefault(p => p.Instances == _space.Instances.Max) is { } top && _space.Instances.Explicit is null)
                missedAtTop = top;
            faster = item;
        }
        return all;
    }

    /// <summary>Every configuration of the item the search evaluates, in the order evaluated.</summary>
    /// <param name="item">The setting.</param>
    /// <param name="startAt">A count known to be needed at least (from a faster clock): tried first, and the answer when it meets the goal.</param>
    /// <param name="cancel">Stops between simulations.</param>
    public IReadOnlyList<PlanPoint> Evaluate(PlanWorkItem item, int? startAt = null, CancellationToken cancel = default)
    {
        ScenarioSpec spec;
        try { spec = SpecFor(item); }
        catch (Exception e) when (e is ArgumentException or FileNotFoundException or InvalidDataException or KeyNotFoundException)
        {
            return [Point(item, 0, e.Message.Contains("does not fit", StringComparison.Ordinal) ? PlanStatus.DoesNotFit : PlanStatus.Error, message: e.Message)];
        }
        var results = new List<PlanPoint>();
        var costs = new Dictionary<CostModelRequest, ICostModel>();
        var search = _space.Instances;
        if (search.Explicit is { Count: > 0 } counts)
        {
            foreach (var n in counts) results.Add(Run(item, spec, n, costs, cancel));
            return results;
        }
        int lo = search.Min - 1;
        if (startAt is { } s0 && s0 >= search.Min && s0 < search.Max)
        {
            // Fewer than s0 instances cannot meet the goal: s0 itself is the answer when it does.
            var first = Run(item, spec, s0, costs, cancel);
            results.Add(first);
            if (first.Feasible || first.Status is PlanStatus.Error or PlanStatus.DoesNotFit) return results;
            lo = s0;
        }
        // Bisection for the smallest feasible count: feasibility is taken to grow with the count.
        var top = Run(item, spec, search.Max, costs, cancel);
        results.Add(top);
        if (!top.Feasible) return results;
        var hi = search.Max;
        while (hi - lo > 1)
        {
            var mid = lo + (hi - lo) / 2;
            var p = Run(item, spec, mid, costs, cancel);
            results.Add(p);
            if (p.Status is PlanStatus.Error or PlanStatus.DoesNotFit) return results;
            if (p.Feasible) hi = mid; else lo = mid;
        }
        return results;
    }

    /// <summary>The scenario of a work item: base settings, then its dimension values, then the profile for its GPU when none is named.</summary>
    public ScenarioSpec SpecFor(PlanWorkItem item)
    {
        var spec = PlanSpace.SpecFrom(_space.BaseSettings);
        foreach (var d in _space.Dimensions) spec = d.Apply(spec, item.Value(d.Key), $"work list row {item.Id + 1}, column {d.Key}");
        if (!spec.IsSet(S.Profile) && !spec.IsSet(S.CostModel) && FindProfile(spec) is { } path)
            spec = spec.WithText(S.Profile, path, "profile");
        return spec;
    }

    /// <summary>The measured profile for the scenario's GPU, model and tp under the profile root, else the derived one, else null (roofline).</summary>
    public string? FindProfile(ScenarioSpec spec)
    {
        if (_profileRoot == null) return null;
        var gpu = spec.Text(S.Gpu) ?? ScenarioSpec.DefaultGpu;
        var model = spec.Text(S.Model) ?? ScenarioSpec.DefaultModel;
        var tp = spec.GetOr(S.Tp, 1);
        var measured = Profiles.Measured.ProfileCostModel.DefaultPath(gpu, model, tp, _profileRoot);
        if (File.Exists(measured)) return measured;
        var derived = ProfileDeriver.DefaultPath(gpu, model, tp, _profileRoot);
        return File.Exists(derived) ? derived : null;
    }

    private PlanPoint Run(PlanWorkItem item, ScenarioSpec spec, int instances, Dictionary<CostModelRequest, ICostModel> costs, CancellationToken cancel)
    {
        cancel.ThrowIfCancellationRequested();
        var wall = Stopwatch.StartNew();
        Scenario sc;
        ICostModel cost;
        try
        {
            sc = spec.Over(new ScenarioSpec()).With(S.Instances, instances).Resolve(_profileRoot);
            // Cost models are shared only within one work item, which one thread evaluates in a fixed order: the profile
            // model caches its last decode-run plan, and sharing it across items would make the last bits of a result
            // depend on what ran before on another thread. Shards must reproduce a one-machine run exactly.
            if (!costs.TryGetValue(sc.Cost, out cost!)) costs[sc.Cost] = cost = CostModelFactory.Create(sc.Cost);
        }
        catch (Exception e) when (e is ArgumentException or FileNotFoundException or InvalidDataException or KeyNotFoundException)
        {
            return Point(item, instances, e.Message.Contains("does not fit", StringComparison.Ordinal) ? PlanStatus.DoesNotFit : PlanStatus.Error, message: e.Message);
        }
        var gpus = instances * sc.Cluster.Deployment!.TensorParallel;
        var stop = new GoalWatch(sc.Cluster.Slo, _trace.Length, _goal.Attainment);
        SimulationSummary s;
        try
        {
            s = new ClusterSimulation(sc.Cluster, cost, stop).Run(_trace, null, cancel);
        }
        catch (GoalWatch.Missed m)
        {
            return Point(item, instances, PlanStatus.StoppedEarly, gpus, message: m.Message) with { CostModel = cost.Name, RequestsTotal = _trace.Length, WallSeconds = wall.Elapsed.TotalSeconds };
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or InvalidDataException)
        {
            return Point(item, instances, PlanStatus.Error, gpus, message: e.Message);
        }
        var gpuHours = gpus * s.SimulatedSeconds / 3600;
        var feasible = s.SloAttainment >= _goal.Attainment;
        return Point(item, instances, feasible ? PlanStatus.Feasible : PlanStatus.Infeasible, gpus) with
        {
            EnergyJ = s.EnergyJ,
            BusyJ = s.BusyJoules,
            IdleJ = s.IdleJoules,
            JPerOutputToken = s.JPerOutputToken,
            Cost = s.FacilityKwh * s.PricePerKwh + gpuHours * _goal.GpuHourPrice,
            GpuHours = gpuHours,
            SloAttainment = s.SloAttainment,
            TtftP50 = s.Ttft.P50,
            TtftP99 = s.Ttft.P99,
            TpotP50 = s.Tpot.P50,
            TpotP99 = s.Tpot.P99,
            E2eP99 = s.E2e.P99,
            RequestsTotal = (int)s.RequestsTotal,
            RequestsCompleted = (int)s.RequestsCompleted,
            RequestsRejected = (int)s.RequestsRejected,
            CostModel = s.CostModel,
            WallSeconds = wall.Elapsed.TotalSeconds,
        };
    }

    private static PlanPoint Point(PlanWorkItem item, int instances, string status, int gpus = 0, string message = "") => new()
    {
        Item = item.Id,
        Values = item.Values,
        Instances = instances,
        Gpus = gpus,
        Status = status,
        Message = message,
    };

    /// <summary>Counts SLO misses as requests finish and stops the run once the goal can no longer be met.</summary>
    private sealed class GoalWatch(SloConfig slo, long total, double attainment) : ISimulationSink
    {
        private readonly long _allowed = (long)Math.Floor(total * (1 - attainment) + 1e-9);
        private long _missed;

        public bool WantsPower => false;
        public void OnPower(in PowerSample sample) { }

        public void OnRequest(in RequestResult r)
        {
            var met = !r.Rejected && r.TtftS <= slo.TtftSeconds && r.TpotS <= slo.TpotSeconds;
            if (!met && ++_missed > _allowed)
                throw new Missed($"stopped after {_missed:N0} of {total:N0} requests missed their SLOs (the goal allows {_allowed:N0})");
        }

        public sealed class Missed(string message) : Exception(message);
    }
}

/// <summary>Runs a plan's work items in parallel on all cores (or <c>jobs</c>), a clock group (<see cref="PlanGroups"/>) at a time, reporting each finished group.</summary>
public static class PlanRunner
{
    /// <param name="evaluator">Evaluates one item.</param>
    /// <param name="items">The items to evaluate (a whole work list or one shard's slice).</param>
    /// <param name="jobs">Items evaluated at once; 0: one per core.</param>
    /// <param name="progress">Called after each work item with (items done, items in all, evaluations so far); from worker threads.</param>
    /// <param name="cancel">Stops between simulations.</param>
    public static IReadOnlyList<PlanPoint> Run(PlanEvaluator evaluator, IReadOnlyList<PlanWorkItem> items, int jobs = 0,
        Action<int, int, int>? progress = null, CancellationToken cancel = default)
    {
        var groups = PlanGroups.Of(items);
        var results = new IReadOnlyList<PlanPoint>[groups.Count];
        int done = 0, evaluations = 0;
        var options = new ParallelOptions { MaxDegreeOfParallelism = jobs > 0 ? jobs : Environment.ProcessorCount, CancellationToken = cancel };
        Parallel.For(0, groups.Count, options, i =>
        {
            results[i] = evaluator.EvaluateGroup(groups[i], cancel);
            var e = Interlocked.Add(ref evaluations, results[i].Count(p => p.Status != PlanStatus.Pruned));
            progress?.Invoke(Interlocked.Add(ref done, groups[i].Count), items.Count, e);
        });
        return results.SelectMany(r => r).ToArray();
    }
}

/// <summary>
/// Work items that differ only in an ordered clock choice (<c>default</c>, then fixed clocks from fast to slow): evaluated
/// together, fastest first, so slower clocks start from what faster ones found (<see cref="PlanEvaluator.EvaluateGroup"/>).
/// Governors (per-phase, slo-aware) are not ordered against fixed clocks and form groups of their own. Groups are the unit
/// of sharding, so a shard's results never depend on another shard's.
/// </summary>
public static class PlanGroups
{
    public static IReadOnlyList<IReadOnlyList<PlanWorkItem>> Of(IEnumerable<PlanWorkItem> items)
    {
        var groups = new List<List<PlanWorkItem>>();
        var byKey = new Dictionary<string, List<PlanWorkItem>>(StringComparer.Ordinal);
        foreach (var item in items)
        {
            var clock = item.Value(ClockDimension.Name);
            var ordered = Speed(clock) is not null;
            var key = string.Join('\u001f', item.Values.Where(kv => !(ordered && kv.Key == ClockDimension.Name)).Select(kv => kv.Key + "=" + kv.Value)) + (ordered ? "" : "\u001e" + item.Id);
            if (!byKey.TryGetValue(key, out var g)) { byKey[key] = g = []; groups.Add(g); }
            g.Add(item);
        }
        return groups.Select(g => (IReadOnlyList<PlanWorkItem>)g.OrderByDescending(i => Speed(i.Value(ClockDimension.Name)) ?? 0).ThenBy(i => i.Id).ToArray()).ToArray();
    }

    /// <summary>How fast a clock choice runs, for ordering: the card's own management first, then fixed clocks by MHz; null for governors and no clock.</summary>
    public static double? Speed(string clock) =>
        clock.Trim().ToLowerInvariant() switch
        {
            "default" => double.PositiveInfinity,
            var c when double.TryParse(c, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var mhz) => mhz,
            _ => null,
        };
}
