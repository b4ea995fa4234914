using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;

namespace Joules.Validation;

/// <summary>Writes a validation: validation.json (every metric measured, simulated and its error), the console table, and an HTML section with the power timelines overlaid and the latency CDFs side by side.</summary>
public static class ValidationReport
{
    private static readonly CultureInfo C = CultureInfo.InvariantCulture;

    public static string Json(ValidationResult v)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("format", "joules-validation");
            w.WriteNumber("format_version", 1);
            w.WriteString("run", v.RunFolder);
            w.WriteString("endpoint", v.Run.Endpoint);
            w.WriteString("trace", v.Run.Trace.Path);
            w.WriteString("trace_sha256", v.Run.Trace.Sha256);
            w.WriteString("arrivals", v.Arrivals switch { ArrivalSource.Sent => "sent", ArrivalSource.Received => "received", _ => "trace" });
            w.WriteString("cost_model", v.CostModel);
            if (v.ProfileFile is { } pf)
            {
                w.WriteStartObject("profile");
                w.WriteString("path", pf.Path);
                w.WriteString("sha256", pf.Sha256);
                w.WriteString("gpu_uuid", pf.GpuUuid);
                w.WriteString("created_utc", pf.CreatedUtc.ToString("O", C));
                w.WriteEndObject();
            }
            Num(w, "iteration_overhead_ms", v.IterationOverheadMs);
            w.WriteString("host_time", v.HostTime switch { HostTimeSource.PerIteration => "per_iteration", HostTimeSource.Given => "given", _ => "run_mean" });
            if (v.Iterations is { } it)
            {
                w.WriteStartObject("iteration_log");
                w.WriteString("path", it.Path);
                w.WriteNumber("first_row", it.FirstRow);
                w.WriteNumber("iterations", it.Count);
                w.WriteString("located_by", it.LocatedByCounter ? "iterations_at_start" : "counters");
                w.WriteEndObject();
            }
            w.WriteString("energy_source", v.Run.Energy.Source);
            w.WriteStartArray("gpu_uuids");
            foreach (var g in v.Run.Energy.Gpus) w.WriteStringValue(g.Uuid);
            w.WriteEndArray();
            w.WriteNumber("kv_blocks", v.Simulated.KvBlocksPerInstance);
            w.WriteNumber("max_num_seqs", v.Simulated.MaxNumSeqs);
            w.WriteNumber("max_num_batched_tokens", v.Simulated.MaxNumBatchedTokens);
            w.WriteBoolean("passed", v.Passed);
            w.WriteStartArray("not_comparable");
            foreach (var why in v.Unfit) w.WriteStringValue(why);
            w.WriteEndArray();
            w.WriteStartArray("warnings");
            foreach (var warning in v.Warnings) w.WriteStringValue(warning);
            w.WriteEndArray();
            w.WriteStartObject("metrics");
            foreach (var m in v.Metrics)
            {
                w.WriteStartObject(m.Name);
                Num(w, "measured", m.Measured);
                Num(w, "simulated", m.Simulated);
                Num(w, "error_pct", m.ErrorPct);
                if (m.Limit is { } l) { Num(w, "limit_pct", l); w.WriteBoolean("passed", m.Passed); }
                w.WriteEndObject();
            }
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(ms.ToArray());
    }

    private static void Num(Utf8JsonWriter w, string name, double v)
    {
        if (double.IsFinite(v)) w.WriteNumber(name, v);
        else w.WriteNull(name);
    }

    /// <summary>The console table: one row per metric.</summary>
    public static IEnumerable<string> Lines(ValidationResult v)
    {
        yield return $"run: {v.RunFolder} ({v.Run.RequestsSent:N0} requests to {v.Run.Endpoint}, energy from {v.Run.Energy.Source})";
        yield return $"simulated: 1 instance, {v.CostModel}, {v.Simulated.KvBlocksPerInstance:N0} KV blocks, max-num-seqs {v.Simulated.MaxNumSeqs}, " +
                     $"max-num-batched-tokens {v.Simulated.MaxNumBatchedTokens}, arrivals from the {v.Arrivals switch { ArrivalSource.Sent => "recorded sends", ArrivalSource.Received => "recorded sends in the server's queue order", _ => "trace" }}";
        yield return v.HostTime switch
        {
            HostTimeSource.PerIteration => $"host time: measured per iteration, {v.Iterations!.Count:N0} iterations from row {v.Iterations.FirstRow:N0} of {v.Iterations.Path} (mean {v.IterationOverheadMs.ToString("0.###", C)} ms)",
            HostTimeSource.Given => $"host time: {v.IterationOverheadMs.ToString("0.###", C)} ms per iteration, as given",
            _ => $"host time: the run's mean, {v.IterationOverheadMs.ToString("0.###", C)} ms per iteration (--iteration-log with the server's log replays it per iteration)",
        };
        if (v.ProfileFile is { } pf) yield return $"profile: {pf}";
        foreach (var warning in v.Warnings) yield return $"warning: {warning}";
        yield return $"{"metric",-22} {"measured",14} {"simulated",14} {"error",10}  limit";
        foreach (var m in v.Metrics)
        {
            var limit = m.Limit is { } l ? $"±{l.ToString("0.##", C)} % {(m.Passed ? "ok" : "MISSED")}" : "";
            yield return $"{m.Name,-22} {Fmt(m.Name, m.Measured),14} {Fmt(m.Name, m.Simulated),14} {RunValidator.Pct(m.ErrorPct),10}  {limit}";
        }
        foreach (var why in v.Unfit) yield return $"not comparable: {why}";
        yield return v.Passed ? "validation: every limit met" : v.Unfit.Count > 0 ? "validation: FAILED (nothing to compare)" : "validation: FAILED (a limit was missed)";
    }

    private static string Fmt(string name, double v)
    {
        if (!double.IsFinite(v)) return "-";
        if (name.EndsWith("_s", StringComparison.Ordinal) && name != "duration_s" && !name.Contains("_per_", StringComparison.Ordinal)) return (v * 1e3).ToString(v < 0.1 ? "F2" : "F1", C) + " ms";
        if (name == "energy_j") return (v / 1e3).ToString("N2", C) + " kJ";
        return v.ToString(Math.Abs(v) >= 100 ? "N0" : "G4", C);
    }

    /// <summary>The HTML section (a complete page when written alone): metric table, power overlay, latency CDFs.</summary>
    public static string Html(ValidationResult v)
    {
        var sb = new StringBuilder();
        sb.Append("<!doctype html><html><head><meta charset=\"utf-8\"><title>Joules validation</title><style>")
          .Append("body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}")
          .Append("th:first-child,td:first-child{text-align:left}svg{background:#fafafa;border:1px solid #ddd;margin:4px}.bad{color:#c0392b}</style></head><body>")
          .Append("<section id=\"validation\"><h1>Validation: measured run vs simulation</h1><p>")
          .Append(WebUtility.HtmlEncode($"{v.RunFolder}: {v.Run.RequestsSent:N0} requests to {v.Run.Endpoint}; simulated with {v.CostModel}{(v.ProfileFile is { } pf ? $", profile {pf}" : "")}"))
          .Append("</p>");
        foreach (var warning in v.Warnings) sb.Append("<p class=\"bad\">warning: ").Append(WebUtility.HtmlEncode(warning)).Append("</p>");
        sb.Append("<table><tr><th>metric</th><th>measured</th><th>simulated</th><th>error</th><th>limit</th></tr>");
        foreach (var m in v.Metrics)
            sb.Append("<tr><td>").Append(m.Name).Append("</td><td>").Append(WebUtility.HtmlEncode(Fmt(m.Name, m.Measured))).Append("</td><td>")
              .Append(WebUtility.HtmlEncode(Fmt(m.Name, m.Simulated))).Append("</td><td").Append(m.Passed ? "" : " class=\"bad\"").Append('>')
              .Append(WebUtility.HtmlEncode(RunValidator.Pct(m.ErrorPct))).Append("</td><td>").Append(m.Limit is { } l ? $"±{l.ToString("0.##", C)} %" : "").Append("</td></tr>");
        sb.Append("</table><h2>Power (measured red, simulated blue)</h2>");
        var xs = Math.Max(v.MeasuredWatts.Length, v.SimulatedWatts.Length) * v.PowerBinS;
        sb.Append(Chart("power (W) over time (s)", xs,
            [(Series(v.MeasuredWatts, v.PowerBinS), "#c0392b"), (Series(v.SimulatedWatts, v.PowerBinS), "#2471a3")]));
        sb.Append("<h2>Latency CDFs (measured red, simulated blue)</h2>");
        foreach (var (name, m, s) in new[] { ("TTFT (s)", v.MeasuredTtft, v.SimulatedTtft), ("TPOT (s)", v.MeasuredTpot, v.SimulatedTpot), ("E2E (s)", v.MeasuredE2e, v.SimulatedE2e) })
        {
            var max = Math.Max(m.Length > 0 ? m[^1] : 0, s.Length > 0 ? s[^1] : 0);
            sb.Append(Chart($"CDF of {name}", max, [(Cdf(m), "#c0392b"), (Cdf(s), "#2471a3")], yMax: 1));
        }
        sb.Append("</section></body></html>");
        return sb.ToString();
    }

    private static (double X, double Y)[] Series(double[] w, double bin) => w.Select((y, i) => ((i + 0.5) * bin, y)).ToArray();

    private static (double X, double Y)[] Cdf(double[] sorted)
    {
        // At most 400 points: every k-th order statistic.
        var step = Math.Max(1, sorted.Length / 400);
        var pts = new List<(double, double)>();
        for (var i = 0; i < sorted.Length; i += step) pts.Add((sorted[i], (i + 1.0) / sorted.Length));
        if (sorted.Length > 0) pts.Add((sorted[^1], 1));
        return pts.ToArray();
    }

    private static string Chart(string title, double xMax, IEnumerable<((double X, double Y)[] Points, string Color)> series, double? yMax = null)
    {
        const int W = 600, H = 220, L = 50, B = 28;
        var list = series.ToList();
        var ym = yMax ?? Math.Max(1, list.SelectMany(s => s.Points).Select(p => p.Y).DefaultIfEmpty(1).Max() * 1.1);
        var xm = Math.Max(1e-9, xMax);
        var sb = new StringBuilder();
        sb.Append(C, $"<svg width=\"{W + L + 10}\" height=\"{H + B + 10}\" xmlns=\"http://www.w3.org/2000/svg\">");
        sb.Append(C, $"<line x1=\"{L}\" y1=\"{H}\" x2=\"{L + W}\" y2=\"{H}\" stroke=\"#888\"/><line x1=\"{L}\" y1=\"0\" x2=\"{L}\" y2=\"{H}\" stroke=\"#888\"/>");
        foreach (var (pts, color) in list)
        {
            if (pts.Length == 0) continue;
            sb.Append(C, $"<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"1.5\" points=\"");
            foreach (var (x, y) in pts) sb.Append(C, $"{L + x / xm * W:F1},{H - Math.Min(y, ym) / ym * H:F1} ");
            sb.Append("\"/>");
        }
        sb.Append(C, $"<text x=\"2\" y=\"12\" font-size=\"11\">{ym:G3}</text><text x=\"2\" y=\"{H}\" font-size=\"11\">0</text>");
        sb.Append(C, $"<text x=\"{L}\" y=\"{H + 18}\" font-size=\"11\">0</text><text x=\"{L + W - 50}\" y=\"{H + 18}\" font-size=\"11\">{xm:G4}</text>");
        sb.Append(C, $"<text x=\"{L + W / 2 - 80}\" y=\"{H + 18}\" font-size=\"11\">{WebUtility.HtmlEncode(title)}</text></svg>");
        return sb.ToString();
    }
}
