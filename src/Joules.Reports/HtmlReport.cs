using System.Globalization;
using System.Net;
using System.Text;
using Joules.Simulation;

namespace Joules.Reports;

/// <summary>Sums every instance's power samples into one cluster power series (bins of the timeline's width).</summary>
public sealed class ClusterPowerSink(double binSeconds) : ISimulationSink
{
    private readonly List<double> _joules = [];
    public bool WantsPower => true;
    public double BinSeconds { get; } = binSeconds;
    public IReadOnlyList<double> Joules => _joules;
    public void OnRequest(in RequestResult result) { }

    public void OnPower(in PowerSample s)
    {
        var bin = (int)Math.Floor(s.StartS / BinSeconds + 1e-9);
        while (_joules.Count <= bin) _joules.Add(0);
        _joules[bin] += s.Joules;
    }

    /// <summary>Mean cluster watts per bin.</summary>
    public double[] Watts() => _joules.Select(j => j / BinSeconds).ToArray();
}

/// <summary>A self-contained HTML report: the summary table and a cluster power chart per scenario (inline SVG, no scripts).</summary>
public static class HtmlReport
{
    public static void Write(string path, IReadOnlyList<SimulationSummary> summaries, IReadOnlyList<ClusterPowerSink?> power, string traceName)
    {
        var c = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.Append("<!doctype html><html><head><meta charset=\"utf-8\"><title>Joules simulation report</title><style>")
          .Append("body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}")
          .Append("th:first-child,td:first-child{text-align:left}h2{margin-top:2em}svg{background:#fafafa;border:1px solid #ddd}</style></head><body>")
          .Append("<h1>Joules simulation report</h1><p>trace: ").Append(WebUtility.HtmlEncode(traceName)).Append("</p><table><tr><th>metric</th>");
        foreach (var s in summaries) sb.Append("<th>").Append(WebUtility.HtmlEncode(s.Name)).Append("</th>");
        sb.Append("</tr>");
        void Row(string label, Func<SimulationSummary, string> f)
        {
            sb.Append("<tr><td>").Append(WebUtility.HtmlEncode(label)).Append("</td>");
            foreach (var s in summaries) sb.Append("<td>").Append(WebUtility.HtmlEncode(f(s))).Append("</td>");
            sb.Append("</tr>");
        }
        string F(double v, string fmt) => double.IsFinite(v) ? v.ToString(fmt, c) : "-";
        Row("deployment", s => $"{s.Instances} x {s.Gpu} x{s.TensorParallel}, {s.Model}, {s.CostModel}");
        Row("router / batching / mode", s => $"{s.Router} / {s.Batching} / {s.Mode}");
        Row("requests completed / total", s => $"{s.RequestsCompleted:N0} / {s.RequestsTotal:N0}");
        Row("energy (kWh)", s => F(s.EnergyKwh, "N4"));
        Row("busy / idle (kJ)", s => $"{F(s.BusyJoules / 1e3, "N1")} / {F(s.IdleJoules / 1e3, "N1")}");
        Row("J per output token", s => F(s.JPerOutputToken, "F3"));
        Row("J per request", s => F(s.JPerRequest, "F1"));
        Row("facility kWh / CO2 g / cost", s => $"{F(s.FacilityKwh, "N4")} / {F(s.Co2Grams, "N1")} / {F(s.Cost, "N4")}");
        Row("TTFT p50 / p90 / p99 (ms)", s => $"{F(s.Ttft.P50 * 1e3, "F1")} / {F(s.Ttft.P90 * 1e3, "F1")} / {F(s.Ttft.P99 * 1e3, "F1")}");
        Row("TPOT p50 / p90 / p99 (ms)", s => $"{F(s.Tpot.P50 * 1e3, "F2")} / {F(s.Tpot.P90 * 1e3, "F2")} / {F(s.Tpot.P99 * 1e3, "F2")}");
        Row("E2E p50 / p99 (s)", s => $"{F(s.E2e.P50, "F3")} / {F(s.E2e.P99, "F3")}");
        Row("SLO attainment", s => F(s.SloAttainment * 100, "F1") + " %");
        Row("GPU busy", s => F(s.BusyFraction * 100, "F1") + " %");
        Row("peak KV / preemptions", s => $"{F(s.PeakKvFraction * 100, "F1")} % / {s.Preemptions:N0}");
        sb.Append("</table>");
        for (var i = 0; i < summaries.Count; i++)
        {
            if (i >= power.Count || power[i] is not { } p || p.Joules.Count == 0) continue;
            sb.Append("<h2>").Append(WebUtility.HtmlEncode(summaries[i].Name)).Append(": cluster power</h2>");
            sb.Append(Chart(p.Watts(), p.BinSeconds, summaries[i].Instances * summaries[i].TensorParallel));
        }
        sb.Append("</body></html>");
        File.WriteAllText(path, sb.ToString());
    }

    private static string Chart(double[] watts, double bin, int gpus)
    {
        const int W = 900, H = 260, L = 60, B = 30;
        var c = CultureInfo.InvariantCulture;
        // at most W points: average neighbouring bins
        var step = Math.Max(1, (int)Math.Ceiling(watts.Length / (double)W));
        var pts = new List<double>();
        for (var i = 0; i < watts.Length; i += step)
        {
            double sum = 0; var n = 0;
            for (var j = i; j < Math.Min(watts.Length, i + step); j++) { sum += watts[j]; n++; }
            pts.Add(sum / n);
        }
        var max = Math.Max(1, pts.Max()) * 1.1;
        var span = watts.Length * bin;
        var sb = new StringBuilder();
        sb.Append(c, $"<svg width=\"{W + L + 10}\" height=\"{H + B + 10}\" xmlns=\"http://www.w3.org/2000/svg\">");
        sb.Append(c, $"<line x1=\"{L}\" y1=\"{H}\" x2=\"{L + W}\" y2=\"{H}\" stroke=\"#888\"/><line x1=\"{L}\" y1=\"0\" x2=\"{L}\" y2=\"{H}\" stroke=\"#888\"/>");
        sb.Append("<polyline fill=\"none\" stroke=\"#c0392b\" stroke-width=\"1.5\" points=\"");
        for (var i = 0; i < pts.Count; i++)
            sb.Append(c, $"{L + i * (double)W / Math.Max(1, pts.Count - 1):F1},{H - pts[i] / max * H:F1} ");
        sb.Append("\"/>");
        sb.Append(c, $"<text x=\"2\" y=\"12\" font-size=\"11\">{max:N0} W</text><text x=\"2\" y=\"{H}\" font-size=\"11\">0 W</text>");
        sb.Append(c, $"<text x=\"{L}\" y=\"{H + 20}\" font-size=\"11\">0 s</text><text x=\"{L + W - 60}\" y=\"{H + 20}\" font-size=\"11\">{span:N0} s</text>");
        sb.Append(c, $"<text x=\"{L + W / 2 - 80}\" y=\"{H + 20}\" font-size=\"11\">cluster power, {gpus} GPUs, {bin * step:G3} s bins</text>");
        sb.Append("</svg>");
        return sb.ToString();
    }
}
