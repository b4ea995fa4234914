using System.Globalization;
using Joules.Output;
using Joules.Reports.Html;
using Joules.Simulation;

namespace Joules.Reports;

/// <summary>One scenario of a report: its summary and, when it was collected, its time series and latency histograms.</summary>
public sealed record ScenarioReport(SimulationSummary Summary, ReportSink? Series);

/// <summary>
/// The simulation report (report.html): one self-contained planning document — provenance, headline figures, the
/// scenarios compared (energy by part, J/token, SLO attainment, GPU-hours), power and busy-instance timelines on
/// common axes, latency CDFs, the summary table and a table of every figure. Charts are Plotly.NET's, with plotly.js
/// embedded, so the file opens anywhere without a network.
/// </summary>
public static class HtmlReport
{
    private static readonly CultureInfo C = CultureInfo.InvariantCulture;

    /// <summary>Writes the report atomically (temporary file renamed into place).</summary>
    public static void Write(string path, IReadOnlyList<ScenarioReport> scenarios, RunProvenance provenance, CancellationToken cancel = default) =>
        AtomicFile.WriteAllText(path, Render(scenarios, provenance), cancel);

    public static string Render(IReadOnlyList<ScenarioReport> scenarios, RunProvenance provenance)
    {
        if (scenarios.Count == 0) throw new ArgumentException("a report needs at least one scenario");
        var doc = new ReportDocument("Joules simulation report");
        var sums = scenarios.Select(s => s.Summary).ToArray();
        var names = sums.Select(s => s.Name).ToArray();
        var rows = new List<(string, string)>
        {
            ("joules", provenance.ToolVersion),
            ("command", provenance.CommandLine),
            ("created (UTC)", provenance.CreatedUtc.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", C)),
            ("trace", provenance.Trace),
            ("trace sha256", provenance.TraceSha256 ?? "synthetic (no file)"),
            ("seed", provenance.Seed.ToString(C)),
        };
        foreach (var sc in provenance.Scenarios)
            rows.Add(($"scenario {sc.Name}", $"{sc.Deployment}; " + (sc.ProfilePath is null ? sc.CostModel : $"{sc.CostModel} — {sc.ProfilePath} (sha256 {sc.ProfileSha256})")));
        rows.Add(("charts", $"Plotly.NET with plotly.js {Charts.PlotlyJsVersion}, embedded"));
        doc.Provenance(rows);

        var parts = sums.Select(EnergyParts.From).ToArray();
        var first = sums[0];
        doc.Kpis(sums.Length == 1 ? "Headline figures" : $"Headline figures (first scenario: {first.Name})",
        [
            ("energy at the GPUs", $"{first.EnergyKwh:N3} kWh", $"{first.FacilityKwh:N3} kWh at PUE {first.Pue:0.##}"),
            ("energy per output token", $"{first.JPerOutputToken:N3} J", $"{first.JPerInputToken:N3} J per input token"),
            ("SLO attainment", $"{first.SloAttainment * 100:N1} %", $"TTFT <= {first.TtftTargetS:0.###} s and TPOT <= {first.TpotTargetS * 1e3:0.#} ms"),
            ("GPU-hours", $"{parts[0].GpuHours:N2}", $"{first.Instances} x {first.TensorParallel} {first.Gpu} over {first.SimulatedSeconds / 3600:N2} h"),
            ("mean power", $"{first.MeanWatts / 1e3:N2} kW", $"busy {first.BusyFraction * 100:N0} % of the time"),
            ("p99 TTFT / TPOT", $"{first.Ttft.P99 * 1e3:N0} / {first.Tpot.P99 * 1e3:N1} ms", $"{first.RequestsCompleted:N0} of {first.RequestsTotal:N0} requests served"),
        ]);

        doc.Heading("compare", sums.Length == 1 ? "The scenario" : "Scenarios compared");
        var energyParts = EnergyParts.Known.Select((k, i) => (k.Part, (IReadOnlyList<double>)parts.Select(p => p.Parts[i].Joules / 3.6e6).ToArray())).ToArray();
        doc.Figure(new Figure("energy", "Energy by part", "Energy of each scenario, stacked by where it went (busy GPU iterations, idle GPUs, and the parts the simulator reports when present: communication, the servers' host power, waking). kWh at the servers (GPUs plus host when the server card has one), before PUE.",
            Charts.StackedColumns(names, energyParts, "energy (kWh)"), EnergyParts.Known.Select(k => k.Part).ToArray(), names.Length * EnergyParts.Known.Length, "kWh",
            ReportDocument.TableHtml("energy-table", ["scenario", .. EnergyParts.Known.Select(k => k.Part + " (kWh)"), "total (kWh)"],
                sums.Select((s, i) => (IReadOnlyList<string>)[s.Name, .. parts[i].Parts.Select(p => (p.Joules / 3.6e6).ToString("N4", C)), (parts[i].Total / 3.6e6).ToString("N4", C)]))));
        doc.Figure(new Figure("jpertoken", "Energy per output token", "Joules at the GPUs per generated token (prefill included).",
            Charts.Columns(names, sums.Select(s => s.JPerOutputToken).ToArray(), "J per output token", "energy per output token (J)"), ["J per output token"], names.Length, "J"));
        doc.Figure(new Figure("slo", "SLO attainment", "Fraction of requests (rejected ones count as misses) that met both the TTFT and the TPOT target.",
            Charts.Columns(names, sums.Select(s => s.SloAttainment * 100).ToArray(), "SLO attainment", "requests meeting both targets (%)"), ["SLO attainment"], names.Length, "%"));
        doc.Figure(new Figure("gpuhours", "GPU-hours", "GPUs held times simulated hours.",
            Charts.Columns(names, parts.Select(p => p.GpuHours).ToArray(), "GPU-hours", "GPU-hours (h)"), ["GPU-hours"], names.Length, "h"));

        var withSeries = scenarios.Where(s => s.Series is { Joules.Count: > 0 }).ToArray();
        if (withSeries.Length > 0)
        {
            doc.Heading("timelines", "Power and instances over time");
            var power = withSeries.Select(s => Downsample(s.Series!.Watts().Select(w => w / 1e3).ToArray(), s.Series.BinSeconds, s.Summary.Name)).ToArray();
            doc.Figure(new Figure("power", "Cluster power", "Power of every scenario's whole cluster (all GPUs, busy and idle) on one time axis, in bins averaged to at most 1,000 points.",
                Charts.Lines(power, "time since the first arrival (s)", "cluster power (kW)"), power.Select(p => p.Name).ToArray(), power.Sum(p => p.X.Count), "kW"));
            var busy = withSeries.Select(s => Downsample(s.Series!.BusyInstances(), s.Series.BinSeconds, s.Summary.Name + ": serving")).ToArray();
            doc.Figure(new Figure("states", "Instances serving", "Mean number of instances running an iteration in each bin; the rest of each scenario's instances are idle (their count is in the summary table).",
                Charts.Lines(busy, "time since the first arrival (s)", "instances serving"), busy.Select(p => p.Name).ToArray(), busy.Sum(p => p.X.Count), "instances"));

            doc.Heading("latency", "Latency distributions");
            foreach (var (key, title, pick, unit) in new (string, string, Func<ReportSink, Joules.Simulation.LogHistogram>, string)[]
                     {
                         ("ttft", "Time to first token", r => r.Ttft, "s"), ("tpot", "Time per output token", r => r.Tpot, "s"), ("e2e", "End-to-end latency", r => r.E2e, "s"),
                     })
            {
                var cdfs = withSeries.Select(s => { var (x, y) = ReportSink.Cdf(pick(s.Series!)); return new Series(s.Summary.Name, x, y); }).Where(s => s.X.Count > 0).ToArray();
                if (cdfs.Length == 0) continue;
                doc.Figure(new Figure(key + "-cdf", $"{title}: CDF", $"Fraction of served requests whose {title.ToLowerInvariant()} is at most x (log scale), one line per scenario, 200 quantiles each.",
                    Charts.Lines(cdfs, $"{title.ToLowerInvariant()} ({unit}, log scale)", "fraction of requests", logX: true), cdfs.Select(c => c.Name).ToArray(), cdfs.Sum(c => c.X.Count), "fraction"));
            }
        }

        doc.Heading("summary", "Summary table");
        doc.Table("summary-table", ["metric", .. names], SummaryRows(sums));
        return doc.Render($"Written by joules {provenance.ToolVersion}. Numbers priced by the cost model each scenario names: 'modelled' clocks come from the frequency model, not a measured clock sweep.");
    }

    private static IEnumerable<IReadOnlyList<string>> SummaryRows(IReadOnlyList<SimulationSummary> s)
    {
        static string F(double v, string fmt) => double.IsFinite(v) ? v.ToString(fmt, C) : "-";
        IReadOnlyList<string> Row(string label, Func<SimulationSummary, string> f) => [label, .. s.Select(f)];
        yield return Row("deployment", x => $"{x.Instances} x {x.Gpu} x{x.TensorParallel}, {x.Model}");
        yield return Row("cost model", x => x.CostModel);
        yield return Row("router / batching / mode", x => $"{x.Router} / {x.Batching} / {x.Mode}");
        yield return Row("requests completed / total", x => $"{x.RequestsCompleted:N0} / {x.RequestsTotal:N0}");
        yield return Row("energy (kWh)", x => F(x.EnergyKwh, "N4"));
        yield return Row("busy / idle (kJ)", x => $"{F(x.BusyJoules / 1e3, "N1")} / {F(x.IdleJoules / 1e3, "N1")}");
        yield return Row("J per output token", x => F(x.JPerOutputToken, "F3"));
        yield return Row("J per request", x => F(x.JPerRequest, "F1"));
        yield return Row("facility kWh / CO2 g / cost", x => $"{F(x.FacilityKwh, "N4")} / {(x.CarbonSet ? F(x.Co2Grams, "N1") : "not set")} / {(x.PriceSet ? F(x.Cost, "N4") : "not set")}");
        yield return Row("TTFT p50 / p90 / p99 (ms)", x => $"{F(x.Ttft.P50 * 1e3, "F1")} / {F(x.Ttft.P90 * 1e3, "F1")} / {F(x.Ttft.P99 * 1e3, "F1")}");
        yield return Row("TPOT p50 / p90 / p99 (ms)", x => $"{F(x.Tpot.P50 * 1e3, "F2")} / {F(x.Tpot.P90 * 1e3, "F2")} / {F(x.Tpot.P99 * 1e3, "F2")}");
        yield return Row("E2E p50 / p99 (s)", x => $"{F(x.E2e.P50, "F3")} / {F(x.E2e.P99, "F3")}");
        yield return Row("SLO attainment", x => F(x.SloAttainment * 100, "F1") + " %");
        yield return Row("GPU busy", x => F(x.BusyFraction * 100, "F1") + " %");
        yield return Row("peak KV / preemptions", x => $"{F(x.PeakKvFraction * 100, "F1")} % / {x.Preemptions:N0}");
    }

    /// <summary>A timeline as a series of at most <paramref name="max"/> points (neighbouring bins averaged), x at each bin's middle.</summary>
    public static Series Downsample(double[] values, double bin, string name, int max = 1000)
    {
        var step = Math.Max(1, (int)Math.Ceiling(values.Length / (double)max));
        var x = new List<double>();
        var y = new List<double>();
        for (var i = 0; i < values.Length; i += step)
        {
            var n = Math.Min(step, values.Length - i);
            double sum = 0;
            for (var j = 0; j < n; j++) sum += values[i + j];
            x.Add((i + n / 2.0) * bin);
            y.Add(sum / n);
        }
        return new Series(name, x, y);
    }
}
