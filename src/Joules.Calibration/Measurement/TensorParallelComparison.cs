using System.Globalization;
using System.Text;
using Joules.Profiles;
using Joules.Profiles.Measured;
using Joules.Profiles.Roofline;

namespace Joules.Calibration.Measurement;

/// <summary>One grid point of the comparison: a tp shard profile scaled to the whole instance plus a communication term, against the measured whole instance.</summary>
/// <param name="Label">The grid point.</param>
/// <param name="ShardSeconds">Shard profile: time per iteration (the instance's GPUs run their shards in parallel).</param>
/// <param name="ShardJoules">Shard profile energy x N.</param>
/// <param name="ModelledCommSeconds">Ring all-reduce of the roofline model (2 per layer, tokens x hidden x 2 bytes, 2(N-1)/N of it over the datasheet interconnect bandwidth).</param>
/// <param name="ModelledCommJoules">N GPUs over that time at measured idle power plus the roofline's communication utilisation of the dynamic power.</param>
/// <param name="MeasuredCommSeconds">2 x layers + 1 all-reduces at the measured per-call time (null without an all-reduce table).</param>
/// <param name="MeasuredCommJoules">The same calls at the measured energy per call (all GPUs).</param>
/// <param name="InstanceSeconds">Measured whole instance: time per iteration.</param>
/// <param name="InstanceJoules">Measured whole instance: energy per iteration of all GPUs.</param>
public sealed record TensorParallelComparisonRow(string Label, double ShardSeconds, double ShardJoules, double ModelledCommSeconds, double ModelledCommJoules,
    double? MeasuredCommSeconds, double? MeasuredCommJoules, double InstanceSeconds, double InstanceJoules)
{
    public double ModelledSeconds => ShardSeconds + ModelledCommSeconds;
    public double ModelledJoules => ShardJoules + ModelledCommJoules;
    /// <summary>(shard x N + modelled all-reduce - instance) / instance.</summary>
    public double ModelledTimeError => ModelledSeconds / InstanceSeconds - 1;
    public double ModelledEnergyError => ModelledJoules / InstanceJoules - 1;
    public double? MeasuredTimeError => MeasuredCommSeconds is { } c ? (ShardSeconds + c) / InstanceSeconds - 1 : null;
    public double? MeasuredEnergyError => MeasuredCommJoules is { } c ? (ShardJoules + c) / InstanceJoules - 1 : null;
}

/// <summary>
/// The comparison table: for each grid point measured both ways, a tp shard profile x N plus a modelled
/// all-reduce (and, given a measured all-reduce table, plus the measured one) against the measured whole instance,
/// time and energy. Pure: reads profiles, writes markdown.
/// </summary>
public static class TensorParallelComparison
{
    public static IReadOnlyList<TensorParallelComparisonRow> Compare(MeasuredProfile shard, MeasuredProfile instance, AllReduceProfile? allReduce = null)
    {
        var ms = shard.Metadata;
        var mi = instance.Metadata;
        if (ms.Model.Name != mi.Model.Name) throw new ArgumentException($"the shard profile is of {ms.Model.Name}, the instance profile of {mi.Model.Name}");
        if (ms.TensorParallel != mi.TensorParallel) throw new ArgumentException($"the shard profile is at tp {ms.TensorParallel}, the instance profile at tp {mi.TensorParallel}");
        if (mi.Extra.GetValueOrDefault(ProfileBuilder.ModeKey) != "instance") throw new ArgumentException("the instance profile is not a whole-instance profile (its metadata lacks tp.mode=instance)");
        if (ms.Extra.GetValueOrDefault(ProfileBuilder.ModeKey) == "instance") throw new ArgumentException("the shard profile is a whole-instance profile");
        var n = Math.Max(1, mi.TensorParallel);
        var model = mi.Model;
        var gpu = Catalog.Gpu(mi.GpuName);
        var roof = new RooflineCostModel(gpu, model, n);
        var commWatts = shard.IdlePowerWatts + RooflineCostModel.CommUtilisation * (gpu.TdpWatts - gpu.IdleWatts);
        var calls = 2 * model.Layers + 1;
        static string Key(ProfilePoint p) => $"{p.Phase}:{p.BatchSize}:{p.NewTokens}:{p.ContextTokens}:{p.DecodeSequences}:{p.DecodeContext}:{p.SmClockTarget}";
        var byKey = shard.Points.Where(p => p.Phase != ProfilePhase.Idle).ToDictionary(Key);
        var rows = new List<TensorParallelComparisonRow>();
        foreach (var p in instance.Points.Where(p => p.Phase != ProfilePhase.Idle))
        {
            if (!byKey.TryGetValue(Key(p), out var s)) continue;
            var point = new CalibrationPoint(p.Phase switch { ProfilePhase.Prefill => Phase.Prefill, ProfilePhase.Decode => Phase.Decode, _ => Phase.Mixed },
                p.BatchSize, p.NewTokens, p.ContextTokens, p.DecodeSequences, p.DecodeContext);
            var shape = point.ToComposition().Shape;
            var tc = roof.CommSeconds(shape);
            double? mt = null, me = null;
            if (allReduce is not null && allReduce.RankCounts.Contains(n))
            {
                var bytes = shape.TotalTokens * model.Hidden * model.BytesPerElement;
                mt = calls * allReduce.Seconds(n, bytes);
                me = calls * allReduce.Joules(n, bytes);
            }
            rows.Add(new TensorParallelComparisonRow(point.ToString(), s.IterationSeconds, s.EnergyJoules * n, tc, tc * commWatts * n, mt, me,
                p.IterationSeconds, p.EnergyJoules * n));
        }
        return rows;
    }

    /// <summary>The comparison as a markdown table, with a summary line of median and worst errors.</summary>
    public static string Markdown(IReadOnlyList<TensorParallelComparisonRow> rows, string shardFile, string instanceFile, string? allReduceFile)
    {
        var inv = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        var measured = rows.Any(r => r.MeasuredCommSeconds is not null);
        sb.AppendLine($"Shard profile `{shardFile}` x N + all-reduce vs the measured whole instance `{instanceFile}`" +
                      (allReduceFile is null ? "" : $"; measured all-reduce from `{allReduceFile}`") + ". Errors are (predicted - measured) / measured.");
        sb.AppendLine();
        sb.Append("| point | shard ms | + modelled AR ms |");
        if (measured) sb.Append(" + measured AR ms |");
        sb.Append(" instance ms | time err (modelled) |");
        if (measured) sb.Append(" time err (measured AR) |");
        sb.Append(" shard x N J | + modelled AR J |");
        if (measured) sb.Append(" + measured AR J |");
        sb.Append(" instance J | energy err (modelled) |");
        if (measured) sb.Append(" energy err (measured AR) |");
        sb.AppendLine();
        sb.AppendLine("|" + string.Concat(Enumerable.Repeat("---|", 1)) + string.Concat(Enumerable.Repeat("---:|", measured ? 12 : 8)));
        string Ms(double s) => (s * 1e3).ToString("0.00", inv);
        string J(double j) => j.ToString("0.000", inv);
        string Pct(double? e) => e is { } v ? (v * 100).ToString("+0.0;-0.0", inv) + "%" : "-";
        foreach (var r in rows)
        {
            sb.Append(inv, $"| {r.Label} | {Ms(r.ShardSeconds)} | {Ms(r.ModelledSeconds)} |");
            if (measured) sb.Append(inv, $" {(r.MeasuredCommSeconds is { } c ? Ms(r.ShardSeconds + c) : "-")} |");
            sb.Append(inv, $" {Ms(r.InstanceSeconds)} | {Pct(r.ModelledTimeError)} |");
            if (measured) sb.Append(inv, $" {Pct(r.MeasuredTimeError)} |");
            sb.Append(inv, $" {J(r.ShardJoules)} | {J(r.ModelledJoules)} |");
            if (measured) sb.Append(inv, $" {(r.MeasuredCommJoules is { } e ? J(r.ShardJoules + e) : "-")} |");
            sb.Append(inv, $" {J(r.InstanceJoules)} | {Pct(r.ModelledEnergyError)} |");
            if (measured) sb.Append(inv, $" {Pct(r.MeasuredEnergyError)} |");
            sb.AppendLine();
        }
        sb.AppendLine();
        string Summary(string what, IEnumerable<double?> errors)
        {
            var e = errors.Where(x => x is not null).Select(x => Math.Abs(x!.Value)).ToArray();
            return e.Length == 0 ? "" : string.Create(inv, $"{what}: median |error| {Statistics.Median(e) * 100:0.0}%, worst {e.Max() * 100:0.0}%. ");
        }
        sb.AppendLine(Summary("Time, shard + modelled all-reduce", rows.Select(r => (double?)r.ModelledTimeError)) +
                      Summary("energy, modelled", rows.Select(r => (double?)r.ModelledEnergyError)) +
                      Summary("time, measured all-reduce", rows.Select(r => r.MeasuredTimeError)) +
                      Summary("energy, measured all-reduce", rows.Select(r => r.MeasuredEnergyError)));
        return sb.ToString();
    }
}
