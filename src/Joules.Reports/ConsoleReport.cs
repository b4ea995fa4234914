using System.Globalization;
using Joules.Simulation;
using Spectre.Console;

namespace Joules.Reports;

/// <summary>
/// The console table of a simulation: one row per metric, one column per scenario. Units are chosen per row so a
/// row compares like with like; wide comparisons are split into tables that fit the console (100 columns when it is
/// not a terminal); settings that were not given say "not set" rather than 0.
/// </summary>
public static class ConsoleReport
{
    private static readonly CultureInfo C = CultureInfo.InvariantCulture;

    /// <summary>Widest table when the output has no width of its own (a file or a pipe).</summary>
    public const int DefaultWidth = 100;

    public static void Render(IAnsiConsole console, IReadOnlyList<SimulationSummary> summaries)
    {
        var width = console.Profile.Width > 0 ? console.Profile.Width : DefaultWidth;
        var headers = summaries.Select(Header).ToArray();
        var cells = Rows.Select(r => r.Format(summaries)).ToArray();
        // As many scenario columns per table as fit: the label column plus each column's widest cell.
        var labelWidth = Rows.Max(r => r.Label.Length) + 4;
        var colWidth = Enumerable.Range(0, summaries.Count)
            .Select(i => Math.Max(headers[i].Length, cells.Max(c => c.Length > i ? c[i].Length : 0)) + 3).ToArray();
        var start = 0;
        while (start < summaries.Count)
        {
            var used = labelWidth;
            var end = start;
            while (end < summaries.Count && (end == start || used + colWidth[end] <= width)) used += colWidth[end++];
            var table = new Table().Border(TableBorder.Rounded);
            if (start == 0) table.Title("[bold]joules simulate[/]");
            table.AddColumn(new TableColumn("metric"));
            for (var i = start; i < end; i++) table.AddColumn(new TableColumn(Markup.Escape(headers[i])).RightAligned());
            for (var r = 0; r < Rows.Length; r++)
            {
                var row = Rows[r];
                if (row.IsSection)
                {
                    table.AddRow(new Markup($"[grey]{Markup.Escape(row.Label)}[/]"));
                    continue;
                }
                var line = new List<string> { Markup.Escape(row.Label) };
                for (var i = start; i < end; i++) line.Add(Markup.Escape(cells[r][i]));
                table.AddRow(line.ToArray());
            }
            console.Write(table);
            start = end;
        }
        var kinds = summaries.Select(s => s.CostModelKind).Where(k => k.Length > 0).Distinct().ToArray();
        if (kinds.Length > 1)
            console.MarkupLine(Markup.Escape($"note: these scenarios are priced by different cost models ({string.Join(", ", kinds)}); differences between them include the difference between the models"));
    }

    /// <summary>The column header: the scenario's name, or what it deploys when it was not named.</summary>
    private static string Header(SimulationSummary s) =>
        s.Name != "default" ? s.Name : $"{s.Instances} x {s.Gpu}" + (s.TensorParallel > 1 ? $" tp{s.TensorParallel}" : "");

    private sealed record Row(string Label, Func<IReadOnlyList<SimulationSummary>, string[]> Format, bool IsSection = false);

    private static Row Section(string label) => new(label, s => s.Select(_ => "").ToArray(), true);
    private static Row Text(string label, Func<SimulationSummary, string> f) => new(label, s => s.Select(f).ToArray());

    /// <summary>A row of energies, all in kWh with kJ in brackets.</summary>
    private static Row Energy(string label, Func<SimulationSummary, double> f) => new(label, s => s.Select(x => Kwh(f(x))).ToArray());

    /// <summary>A row of latency triples in one unit: ms when every value is under 10 s, else s.</summary>
    private static Row Latency(string label, Func<SimulationSummary, double[]> f) => new(label, s =>
    {
        var values = s.Select(f).ToArray();
        var seconds = values.SelectMany(v => v).Where(double.IsFinite).DefaultIfEmpty(0).Max() >= 10;
        return values.Select(v => string.Join(" / ", v.Select(x => Time(x, seconds)))).ToArray();
    });

    private static string F(double v, string fmt) => double.IsFinite(v) ? v.ToString(fmt, C) : "-";
    private static string Pct(double v) => double.IsFinite(v) ? (v * 100).ToString("F1", C) + " %" : "-";
    private static string Kwh(double j) => double.IsFinite(j) ? $"{(j / 3.6e6).ToString(j >= 3.6e7 ? "N2" : "N4", C)} kWh ({(j / 1e3).ToString(j >= 1e6 ? "N0" : "N1", C)} kJ)" : "-";
    private static string Time(double s, bool inSeconds) =>
        !double.IsFinite(s) ? "-" : inSeconds ? s.ToString(s < 100 ? "F2" : "N0", C) + " s" : (s * 1000).ToString(s < 0.1 ? "F1" : "F0", C) + " ms";

    private static readonly Row[] Rows =
    [
        Section("deployment"),
        Text("cost model", s => s.CostModel),
        Text("gpu x tp", s => $"{s.Gpu} x{s.TensorParallel}"),
        Text("model", s => s.Model),
        Text("instances", s => s.Autoscaler == "fixed" ? s.Instances.ToString(C) : $"{F(s.MeanInstances, "N1")} mean of {s.Instances} ({s.Autoscaler})"),
        Text("GPU-hours", s => F(s.GpuHours, "N2")),
        Text("router", s => s.Router),
        Text("batching / mode", s => $"{s.Batching} / {s.Mode}"),
        Text("max seqs / tokens / len", s => $"{s.MaxNumSeqs:N0} / {s.MaxNumBatchedTokens:N0} / {s.MaxModelLen:N0}"),
        Section("workload"),
        Text("requests completed", s => $"{s.RequestsCompleted:N0} / {s.RequestsTotal:N0}"),
        Text("rejected", s => s.RequestsRejected == 0 ? "0" : $"{s.RequestsRejected:N0} ({s.RejectedMaxModelLen:N0} max-model-len, {s.RejectedKvCapacity:N0} kv-capacity)"),
        Text("tokens in / out", s => $"{s.InputTokens:N0} / {s.OutputTokens:N0}"),
        Text("simulated time", s => F(s.SimulatedSeconds, "N1") + " s"),
        Section("energy"),
        Energy("energy (GPU)", s => s.EnergyJ),
        Energy("  busy", s => s.BusyJoules),
        Energy("  idle", s => s.IdleJoules),
        Energy("  cold starts", s => s.WakingJoules),
        Text("  idle share", s => Pct(s.IdleShare) + (s.IdleShare > 0.5 && s.Autoscaler == "fixed" ? " (see --autoscaler)" : "")),
        Energy("  of busy: all-reduce", s => s.CommJoules),
        Text("host (server card)", s => s.Node is null ? "not counted (--node none)" : $"{Kwh(s.HostJoules)} {s.Node}"),
        Text("priced by", s => s.BusyJoules <= 0 ? "-" : s.PricedModelJoules >= s.BusyJoules * 0.999 ? "model (roofline)"
            : $"{Pct(s.PricedExactJoules / s.BusyJoules)} exact, {Pct(s.PricedInterpolatedJoules / s.BusyJoules)} interp, {Pct(s.PricedFittedJoules / s.BusyJoules)} fit, {Pct(s.ExtrapolatedShare)} extrap"),
        Text("J / output token", s => F(s.JPerOutputToken, "F3")),
        Text("J / input token", s => F(s.JPerInputToken, "F4")),
        Text("J / request", s => F(s.JPerRequest, "F1")),
        Text("mean power", s => F(s.MeanWatts, "N0") + " W"),
        Text("facility (GPU+host)xPUE", s => $"{F(s.FacilityKwh, "N4")} kWh (PUE {F(s.Pue, "F2")})"),
        Text("CO2", s => s.CarbonSet ? $"{F(s.Co2Grams, "N1")} g ({F(s.CarbonGramsPerKwh, "N0")} g/kWh)" : "not set (--carbon)"),
        Text("cost", s => s.PriceSet ? $"{F(s.Cost, "N4")} ({F(s.PricePerKwh, "G4")}/kWh)" : "not set (--price)"),
        Text("prefix cache hits", s => !s.PrefixCaching ? "off" : $"{Pct(s.PrefixHitRate)} ({s.PrefixHitTokens:N0} tokens{(s.PrefixPreemptedHitTokens > 0 ? $"; +{s.PrefixPreemptedHitTokens:N0} re-found after preemption" : "")}, {F(s.PrefixSavedJoules / 1e3, "N1")} kJ saved)"),
        Section("latency"),
        Latency("TTFT p50 / p90 / p99", s => [s.Ttft.P50, s.Ttft.P90, s.Ttft.P99]),
        Latency("TPOT p50 / p90 / p99", s => [s.Tpot.P50, s.Tpot.P90, s.Tpot.P99]),
        Latency("E2E p50 / p99", s => [s.E2e.P50, s.E2e.P99]),
        Latency("queueing mean / p99", s => [s.Queue.Mean, s.Queue.P99]),
        Text("SLO attainment", s => $"{Pct(s.SloAttainment)} (TTFT<={F(s.TtftTargetS, "G3")} s, TPOT<={F(s.TpotTargetS * 1000, "G3")} ms)"),
        Section("utilisation"),
        Text("throughput", s => $"{F(s.RequestsPerSecond, "F2")} req/s, {F(s.OutputTokensPerSecond, "N0")} tok/s"),
        Text("GPU busy", s => Pct(s.BusyFraction)),
        Text("peak KV use", s => Pct(s.PeakKvFraction)),
        Text("preemptions", s => s.Preemptions.ToString("N0", C)),
        Text("scale events / cold starts", s => s.Autoscaler == "fixed" ? "-" : $"{s.ScaleEvents:N0} / {s.ColdStarts:N0} ({F(s.ColdStartSeconds, "F0")} s each)"),
        Text("wall time", s => F(s.WallSeconds, "F2") + " s" + (s.WallSeconds > 0 ? $" ({F(s.SimulatedSeconds / s.WallSeconds, "N0")}x real time)" : "")),
    ];
}
