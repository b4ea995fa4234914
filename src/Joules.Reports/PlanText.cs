using System.Globalization;
using Joules.Planning;

namespace Joules.Reports;

/// <summary>The console account of a plan: counts, the best configuration and the Pareto frontier as a text table.</summary>
public static class PlanText
{
    public static void Write(TextWriter w, PlanResults r)
    {
        var c = CultureInfo.InvariantCulture;
        var points = r.Points;
        var feasible = r.Feasible.ToArray();
        w.WriteLine(string.Create(c, $"plan {r.PlanId}: {points.Count:N0} configurations evaluated over {points.Select(p => p.Item).Distinct().Count():N0} settings (shards {r.Shards}); {feasible.Length:N0} meet {r.Header.Attainment:P1} SLO attainment"));
        var stopped = points.Count(p => p.Status == PlanStatus.StoppedEarly);
        if (stopped > 0) w.WriteLine(string.Create(c, $"{stopped:N0} simulations stopped early once the goal was out of reach"));
        foreach (var g in points.Where(p => p.Status is PlanStatus.Error or PlanStatus.DoesNotFit).GroupBy(p => p.Message).Take(5))
            w.WriteLine($"{g.Count()} x {g.First().Status}: {g.Key}");
        if (r.Best is { } b)
        {
            var cost = b.Cost > 0 ? string.Create(c, $", cost {b.Cost:F2}") : "";
            w.WriteLine(string.Create(c, $"best by {r.Header.Objective}: {b.Describe()} -> {b.EnergyKwh:F3} kWh, {b.Gpus} GPUs, TTFT p99 {b.TtftP99 * 1e3:F0} ms, TPOT p99 {b.TpotP99 * 1e3:F1} ms, attainment {b.SloAttainment:P2}{cost}"));
        }
        else w.WriteLine("no configuration meets the goal: widen the search (more instances, other GPUs) or relax the SLOs");
        var frontier = r.Frontier.OrderBy(p => p.Gpus).ThenBy(p => p.EnergyJ).ToArray();
        if (frontier.Length == 0) return;
        w.WriteLine(string.Create(c, $"Pareto frontier ({frontier.Length} of {feasible.Length} feasible; energy, p99 TTFT, p99 TPOT and GPUs all minimised):"));
        w.WriteLine($"  {"GPUs",5} {"kWh",9} {"J/tok",7} {"TTFT p99",9} {"TPOT p99",9}  configuration");
        foreach (var p in frontier)
            w.WriteLine(string.Create(c, $"  {p.Gpus,5} {p.EnergyKwh,9:F3} {p.JPerOutputToken,7:F3} {p.TtftP99 * 1e3,7:F0}ms {p.TpotP99 * 1e3,7:F1}ms  {p.Describe()}"));
    }
}
