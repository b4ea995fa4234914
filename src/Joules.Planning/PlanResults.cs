namespace Joules.Planning;

/// <summary>How an evaluated configuration came out.</summary>
public static class PlanStatus
{
    /// <summary>Met the attainment goal.</summary>
    public const string Feasible = "feasible";
    /// <summary>Ran to the end and missed the goal.</summary>
    public const string Infeasible = "infeasible";
    /// <summary>Stopped as soon as more requests had missed their SLOs than the goal allows (metrics are NaN).</summary>
    public const string StoppedEarly = "infeasible-stopped";
    /// <summary>The model does not fit the GPU at this tensor-parallel degree (nothing was simulated).</summary>
    public const string DoesNotFit = "does-not-fit";
    /// <summary>The configuration could not be simulated; the message says why.</summary>
    public const string Error = "error";
    /// <summary>Not simulated: a faster clock of the same setting already missed the goal at the largest count.</summary>
    public const string Pruned = "pruned";
}

/// <summary>One evaluated configuration: a work item at one instance count, and what the simulation reported.</summary>
public sealed record PlanPoint
{
    public required int Item { get; init; }
    public required IReadOnlyList<KeyValuePair<string, string>> Values { get; init; }
    public required int Instances { get; init; }
    public int Gpus { get; init; }
    public required string Status { get; init; }
    public bool Feasible => Status == PlanStatus.Feasible;
    public bool OnFrontier { get; init; }
    public bool Best { get; init; }
    public double EnergyJ { get; init; } = double.NaN;
    public double BusyJ { get; init; } = double.NaN;
    public double IdleJ { get; init; } = double.NaN;
    public double JPerOutputToken { get; init; } = double.NaN;
    public double Cost { get; init; } = double.NaN;
    public double GpuHours { get; init; } = double.NaN;
    public double SloAttainment { get; init; } = double.NaN;
    public double TtftP50 { get; init; } = double.NaN;
    public double TtftP99 { get; init; } = double.NaN;
    public double TpotP50 { get; init; } = double.NaN;
    public double TpotP99 { get; init; } = double.NaN;
    public double E2eP99 { get; init; } = double.NaN;
    public int RequestsTotal { get; init; }
    public int RequestsCompleted { get; init; }
    public int RequestsRejected { get; init; }
    public string CostModel { get; init; } = "";
    public string Message { get; init; } = "";
    /// <summary>Seconds the evaluation took (the only column that differs between runs of the same plan).</summary>
    public double WallSeconds { get; init; }

    public double EnergyKwh => EnergyJ / 3.6e6;

    public string Describe() => (Values.Count == 0 ? "" : string.Join(' ', Values.Select(kv => $"{kv.Key}={kv.Value}")) + " ") + $"instances={Instances}";

    /// <summary>The objective's value (lower is better); GPU count ties are broken by energy.</summary>
    public double ObjectiveValue(PlanObjective o) => o switch
    {
        PlanObjective.Cost => Cost,
        PlanObjective.Gpus => Gpus + EnergyJ / 1e15,
        _ => EnergyJ,
    };
}

/// <summary>Every evaluated configuration of a plan (or of one shard of it), written as results.parquet and merged across shards.</summary>
public sealed class PlanResults
{
    public const string ShardKey = "joules.plan.shard";

    public PlanResults(PlanHeader header, string planId, IReadOnlyList<PlanPoint> points, string shards)
    {
        Header = header;
        PlanId = planId;
        Shards = shards;
        Points = Mark(header.Goal, points.OrderBy(p => p.Item).ThenBy(p => p.Instances).ToArray());
    }

    public PlanHeader Header { get; }
    public string PlanId { get; }
    /// <summary>Which shards these results cover ("0/1" for a whole plan, "0,2/4" for two of four).</summary>
    public string Shards { get; }
    public IReadOnlyList<PlanPoint> Points { get; }
    public IEnumerable<PlanPoint> Feasible => Points.Where(p => p.Feasible);
    public IEnumerable<PlanPoint> Frontier => Points.Where(p => p.OnFrontier);
    /// <summary>The feasible configuration that minimises the objective, or null.</summary>
    public PlanPoint? Best => Points.FirstOrDefault(p => p.Best);

    /// <summary>Marks the Pareto frontier (energy, p99 TTFT, p99 TPOT, GPUs, all minimised, among feasible points) and the best point.</summary>
    private static PlanPoint[] Mark(PlanGoal goal, PlanPoint[] points)
    {
        var feasible = points.Where(p => p.Feasible).ToArray();
        var frontier = new HashSet<PlanPoint>(Pareto.Frontier(feasible, p => [p.EnergyJ, p.TtftP99, p.TpotP99, p.Gpus]), ReferenceEqualityComparer.Instance);
        var best = feasible.Length == 0 ? null : feasible.MinBy(p => p.ObjectiveValue(goal.Objective));
        return points.Select(p => p with { OnFrontier = frontier.Contains(p), Best = ReferenceEquals(p, best) }).ToArray();
    }

    /// <summary>Combines the results of shards of one plan; refuses results of different plans and shards given twice.</summary>
    public static PlanResults Merge(IReadOnlyList<PlanResults> parts)
    {
        if (parts.Count == 0) throw new ArgumentException("plan merge: give at least one results file");
        var id = parts[0].PlanId;
        foreach (var p in parts)
            if (p.PlanId != id) throw new ArgumentException($"plan merge: results of two different plans (plan ids {id} and {p.PlanId}); merge only the shards of one work list");
        var owner = new Dictionary<int, int>();
        for (var i = 0; i < parts.Count; i++)
            foreach (var item in parts[i].Points.Select(x => x.Item).Distinct())
                if (!owner.TryAdd(item, i))
                    throw new ArgumentException($"plan merge: setting {item} is in two results files (a shard given twice?)");
        var shardCount = parts.Select(p => p.Shards.Split('/').LastOrDefault()).Distinct().ToArray();
        var indices = parts.SelectMany(p => p.Shards.Split('/')[0].Split(',')).Distinct().OrderBy(s => int.TryParse(s, out var v) ? v : int.MaxValue).ToArray();
        var shards = shardCount.Length == 1 ? $"{string.Join(',', indices)}/{shardCount[0]}" : string.Join(';', parts.Select(p => p.Shards));
        return new PlanResults(parts[0].Header, id, parts.SelectMany(p => p.Points).ToArray(), shards);
    }

    /// <summary>Settings of the work list with no result here (shards still to merge).</summary>
    public IReadOnlyList<PlanWorkItem> Missing(WorkList list)
    {
        var have = Points.Select(p => p.Item).ToHashSet();
        return list.Items.Where(i => !have.Contains(i.Id)).ToArray();
    }

    private static readonly (string Name, Func<PlanPoint, double> Get, Func<PlanPoint, double, PlanPoint> Set)[] s_doubles =
    [
        ("energy_j", p => p.EnergyJ, (p, v) => p with { EnergyJ = v }),
        ("busy_j", p => p.BusyJ, (p, v) => p with { BusyJ = v }),
        ("idle_j", p => p.IdleJ, (p, v) => p with { IdleJ = v }),
        ("j_per_output_token", p => p.JPerOutputToken, (p, v) => p with { JPerOutputToken = v }),
        ("cost", p => p.Cost, (p, v) => p with { Cost = v }),
        ("gpu_hours", p => p.GpuHours, (p, v) => p with { GpuHours = v }),
        ("slo_attainment", p => p.SloAttainment, (p, v) => p with { SloAttainment = v }),
        ("ttft_p50_s", p => p.TtftP50, (p, v) => p with { TtftP50 = v }),
        ("ttft_p99_s", p => p.TtftP99, (p, v) => p with { TtftP99 = v }),
        ("tpot_p50_s", p => p.TpotP50, (p, v) => p with { TpotP50 = v }),
        ("tpot_p99_s", p => p.TpotP99, (p, v) => p with { TpotP99 = v }),
        ("e2e_p99_s", p => p.E2eP99, (p, v) => p with { E2eP99 = v }),
        ("wall_s", p => p.WallSeconds, (p, v) => p with { WallSeconds = v }),
    ];

    private static readonly (string Name, Func<PlanPoint, int> Get, Func<PlanPoint, int, PlanPoint> Set)[] s_ints =
    [
        ("instances", p => p.Instances, (p, v) => p with { Instances = v }),
        ("gpus", p => p.Gpus, (p, v) => p with { Gpus = v }),
        ("requests_total", p => p.RequestsTotal, (p, v) => p with { RequestsTotal = v }),
        ("requests_completed", p => p.RequestsCompleted, (p, v) => p with { RequestsCompleted = v }),
        ("requests_rejected", p => p.RequestsRejected, (p, v) => p with { RequestsRejected = v }),
    ];

    /// <summary>Writes results.parquet: one row per evaluated configuration, the header and plan id in the footer.</summary>
    public void Write(string path, CancellationToken cancel = default)
    {
        var t = new PlanTable();
        t.Metadata[WorkList.HeaderKey] = Header.ToJson();
        t.Metadata[WorkList.PlanIdKey] = PlanId;
        t.Metadata[ShardKey] = Shards;
        var item = t.Column<int>(WorkList.ItemColumn);
        foreach (var k in Header.DimensionOrder) t.Column<string>(k);
        foreach (var (n, _, _) in s_ints) t.Column<int>(n);
        var status = t.Column<string>("status");
        var feasible = t.Column<bool>("feasible");
        var frontier = t.Column<bool>("on_frontier");
        var best = t.Column<bool>("best");
        foreach (var (n, _, _) in s_doubles) t.Column<double>(n);
        var costModel = t.Column<string>("cost_model");
        var message = t.Column<string>("message");
        foreach (var p in Points)
        {
            item.Add(p.Item);
            foreach (var k in Header.DimensionOrder) t.Column<string>(k).Add(p.Values.FirstOrDefault(v => v.Key == k).Value ?? "");
            foreach (var (n, get, _) in s_ints) t.Column<int>(n).Add(get(p));
            status.Add(p.Status);
            feasible.Add(p.Feasible);
            frontier.Add(p.OnFrontier);
            best.Add(p.Best);
            foreach (var (n, get, _) in s_doubles) t.Column<double>(n).Add(get(p));
            costModel.Add(p.CostModel);
            message.Add(p.Message);
        }
        t.Write(path, cancel);
    }

    public static PlanResults Read(string path)
    {
        var t = PlanTable.Read(path);
        if (!t.Metadata.TryGetValue(WorkList.HeaderKey, out var json) || !t.Metadata.TryGetValue(WorkList.PlanIdKey, out var id))
            throw new InvalidDataException($"{path} is not a plan results file (no plan header in its metadata)");
        var header = PlanHeader.FromJson(json, path);
        foreach (var c in new[] { WorkList.ItemColumn, "status" }.Concat(header.DimensionOrder).Concat(s_ints.Select(x => x.Name)).Concat(s_doubles.Select(x => x.Name)))
            if (!t.Has(c)) throw new InvalidDataException($"{path}: column '{c}' is missing");
        var points = new List<PlanPoint>();
        for (var r = 0; r < t.Rows; r++)
        {
            var p = new PlanPoint
            {
                Item = t.Column<int>(WorkList.ItemColumn)[r],
                Values = header.DimensionOrder.Select(k => new KeyValuePair<string, string>(k, t.Column<string>(k)[r])).ToArray(),
                Instances = 0,
                Status = t.Column<string>("status")[r],
                CostModel = t.Has("cost_model") ? t.Column<string>("cost_model")[r] : "",
                Message = t.Has("message") ? t.Column<string>("message")[r] : "",
            };
            foreach (var (n, _, set) in s_ints) p = set(p, t.Column<int>(n)[r]);
            foreach (var (n, _, set) in s_doubles) p = set(p, t.Column<double>(n)[r]);
            points.Add(p);
        }
        return new PlanResults(header, id, points, t.Metadata.GetValueOrDefault(ShardKey) ?? "0/1");
    }
}

/// <summary>Pareto frontiers: the points no other point beats or equals in every objective (all minimised).</summary>
public static class Pareto
{
    public static IReadOnlyList<T> Frontier<T>(IReadOnlyList<T> points, Func<T, double[]> objectives)
    {
        var v = points.Select(objectives).ToArray();
        var result = new List<T>();
        for (var i = 0; i < points.Count; i++)
        {
            if (v[i].Any(double.IsNaN)) continue;
            var dominated = false;
            for (var j = 0; j < points.Count && !dominated; j++)
                if (j != i && !v[j].Any(double.IsNaN) && Dominates(v[j], v[i])) dominated = true;
            if (!dominated) result.Add(points[i]);
        }
        return result;
    }

    /// <summary>a is no worse than b everywhere and better somewhere.</summary>
    public static bool Dominates(double[] a, double[] b)
    {
        var better = false;
        for (var k = 0; k < a.Length; k++)
        {
            if (a[k] > b[k]) return false;
            if (a[k] < b[k]) better = true;
        }
        return better;
    }
}
