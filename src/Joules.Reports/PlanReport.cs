using System.Globalization;
using Joules.Output;
using Joules.Planning;
using Joules.Reports.Html;

namespace Joules.Reports;

/// <summary>
/// The plan report (report.html of `joules plan`): provenance, headline figures, the Pareto charts (energy against GPU
/// count, p99 TTFT and p99 TPOT, frontier marked), the frontier and the smallest feasible count of each setting.
/// </summary>
public static class PlanReport
{
    private static readonly CultureInfo C = CultureInfo.InvariantCulture;

    public static void Write(string path, PlanResults results, CancellationToken cancel = default) =>
        AtomicFile.WriteAllText(path, Render(results), cancel);

    public static string Render(PlanResults r)
    {
        var h = r.Header;
        var doc = new ReportDocument("Joules capacity plan");
        doc.Provenance(
        [
            ("joules", h.ToolVersion),
            ("command", h.Command),
            ("plan id", r.PlanId),
            ("shards merged", r.Shards),
            ("trace", h.DurationSeconds is { } d ? $"synthetic, {d:0.#} s fitted to {h.Trace}" : h.Trace),
            ("trace sha256", h.TraceSha256),
            ("seed", h.Seed.ToString(C)),
            ("goal", $"{h.Attainment:P1} of requests meet both SLO targets; minimise {h.Objective}"),
            ("settings shared", h.Base.Count == 0 ? "(defaults)" : string.Join(", ", h.Base.Select(kv => $"{kv.Key}={kv.Value}"))),
            ("dimensions", h.DimensionOrder.Length == 0 ? "(none)" : string.Join("; ", h.DimensionOrder.Select(k => $"{k}: {string.Join(", ", h.Dimensions[k])}"))),
            ("instances", h.Instances.Describe()),
            ("cost models", string.Join("; ", r.Points.Select(p => p.CostModel).Where(c => c.Length > 0).Distinct())),
            ("charts", $"Plotly.NET with plotly.js {Charts.PlotlyJsVersion}, embedded"),
        ]);
        var feasible = r.Feasible.ToArray();
        var frontier = r.Frontier.OrderBy(p => p.Gpus).ThenBy(p => p.EnergyJ).ToArray();
        var best = r.Best;
        doc.Kpis("Headline figures",
        [
            ("configurations evaluated", r.Points.Count.ToString("N0", C), $"{r.Points.Select(p => p.Item).Distinct().Count():N0} settings"),
            ("meet the goal", feasible.Length.ToString("N0", C), $"{r.Points.Count(p => p.Status == PlanStatus.StoppedEarly):N0} stopped early"),
            ("on the Pareto frontier", frontier.Length.ToString("N0", C), "energy, p99 TTFT, p99 TPOT, GPUs"),
            ($"best by {h.Objective}", best is null ? "none" : $"{best.EnergyKwh:N3} kWh", best?.Describe() ?? "no configuration meets the goal"),
            ("its GPUs", best is null ? "-" : best.Gpus.ToString(C), best is null ? "" : $"{best.GpuHours:N2} GPU-hours"),
            ("its p99 TTFT / TPOT", best is null ? "-" : $"{best.TtftP99 * 1e3:N0} / {best.TpotP99 * 1e3:N1} ms", best is null ? "" : $"attainment {best.SloAttainment:P2}"),
        ]);

        doc.Heading("pareto", "Pareto frontier");
        doc.Paragraph("Every configuration that met the goal, with the frontier (no other feasible configuration is at least as good in energy, p99 TTFT, p99 TPOT and GPU count, and better in one) marked. Configurations that missed the goal are not drawn: their simulations stop as soon as the goal is out of reach, so they have no totals (results.parquet lists them).");
        foreach (var (key, title, x, xTitle) in new (string, string, Func<PlanPoint, double>, string)[]
                 {
                     ("pareto-gpus", "Energy against GPU count", p => p.Gpus, "GPUs"),
                     ("pareto-ttft", "Energy against p99 TTFT", p => p.TtftP99 * 1e3, "p99 time to first token (ms)"),
                     ("pareto-tpot", "Energy against p99 TPOT", p => p.TpotP99 * 1e3, "p99 time per output token (ms)"),
                 })
        {
            Series S(string name, IEnumerable<PlanPoint> pts)
            {
                var a = pts.ToArray();
                return new Series(name, a.Select(x).ToArray(), a.Select(p => p.EnergyKwh).ToArray(), a.Select(p => p.Describe()).ToArray());
            }
            var series = new List<Series> { S("feasible", feasible.Where(p => !p.OnFrontier)), S("Pareto frontier", frontier) };
            doc.Figure(new Figure(key, title, $"Energy at the GPUs (kWh) of each configuration against {xTitle}; hover a point for its settings.",
                Charts.Points(series, xTitle, "energy (kWh)"), series.Select(s => s.Name).ToArray(), series.Sum(s => s.X.Count), "kWh"));
        }
        doc.Table("frontier-table", ["configuration", "GPUs", "energy (kWh)", "J / output token", "p99 TTFT (ms)", "p99 TPOT (ms)", "attainment", "cost model"],
            frontier.Select(p => (IReadOnlyList<string>)[p.Describe(), p.Gpus.ToString(C), p.EnergyKwh.ToString("N4", C), p.JPerOutputToken.ToString("N3", C),
                (p.TtftP99 * 1e3).ToString("N0", C), (p.TpotP99 * 1e3).ToString("N2", C), p.SloAttainment.ToString("P2", C), p.CostModel]));

        doc.Heading("settings", "Each setting's smallest feasible configuration");
        doc.Table("settings-table", ["setting", "smallest feasible instances", "GPUs", "energy (kWh)", "evaluated", "status of the largest count"],
            r.Points.GroupBy(p => p.Item).Select(g =>
            {
                var f = g.Where(p => p.Feasible).MinBy(p => p.Instances);
                var top = g.MaxBy(p => p.Instances)!;
                var label = string.Join(' ', top.Values.Select(kv => $"{kv.Key}={kv.Value}"));
                return (IReadOnlyList<string>)[label.Length == 0 ? "(base)" : label, f?.Instances.ToString(C) ?? "none", f?.Gpus.ToString(C) ?? "-",
                    f is null ? "-" : f.EnergyKwh.ToString("N4", C), g.Count().ToString(C), top.Status + (top.Message.Length > 0 ? ": " + top.Message : "")];
            }));
        return doc.Render($"Written by joules {h.ToolVersion}. Every evaluated configuration is in results.parquet beside this file.");
    }
}
