using System.Globalization;
using Joules.Simulation;
using Spectre.Console;

namespace Joules.Reports;

/// <summary>The console table of a simulation: one row per metric, one column per scenario.</summary>
public static class ConsoleReport
{
    public static void Render(IAnsiConsole console, IReadOnlyList<SimulationSummary> summaries)
    {
        var table = new Table().Border(TableBorder.Rounded).Title("[bold]joules simulate[/]");
        table.AddColumn(new TableColumn("metric"));
        foreach (var s in summaries) table.AddColumn(new TableColumn(Markup.Escape(s.Name)).RightAligned());
        foreach (var (label, value) in Rows)
        {
            if (label.StartsWith('—'))
            {
                table.AddRow(new Markup($"[grey]{Markup.Escape(label.TrimStart('—', ' '))}[/]"));
                continue;
            }
            var cells = new List<string> { Markup.Escape(label) };
            foreach (var s in summaries) cells.Add(Markup.Escape(value(s)));
            table.AddRow(cells.ToArray());
        }
        console.Write(table);
    }

    private static string F(double v, string fmt) => double.IsFinite(v) ? v.ToString(fmt, CultureInfo.InvariantCulture) : "-";
    private static string Ms(double s) => double.IsFinite(s) ? (s * 1000).ToString(s < 0.1 ? "F1" : "F0", CultureInfo.InvariantCulture) + " ms" : "-";
    private static string Pct(double v) => double.IsFinite(v) ? (v * 100).ToString("F1", CultureInfo.InvariantCulture) + " %" : "-";
    private static string Energy(double j) => j >= 3.6e6 ? F(j / 3.6e6, "N3") + " kWh" : j >= 1e3 ? F(j / 1e3, "N1") + " kJ" : F(j, "F2") + " J";

    private static readonly (string, Func<SimulationSummary, string>)[] Rows =
    [
        ("— deployment", _ => ""),
        ("cost model", s => s.CostModel),
        ("gpu x tp", s => $"{s.Gpu} x{s.TensorParallel}"),
        ("model", s => s.Model),
        ("instances", s => s.Instances.ToString(CultureInfo.InvariantCulture)),
        ("router", s => s.Router),
        ("batching / mode", s => $"{s.Batching} / {s.Mode}"),
        ("— workload", _ => ""),
        ("requests completed", s => $"{s.RequestsCompleted:N0} / {s.RequestsTotal:N0}" + (s.RequestsRejected > 0 ? $" ({s.RequestsRejected:N0} rejected)" : "")),
        ("tokens in / out", s => $"{s.InputTokens:N0} / {s.OutputTokens:N0}"),
        ("simulated time", s => F(s.SimulatedSeconds, "N1") + " s"),
        ("— energy", _ => ""),
        ("energy (GPU)", s => Energy(s.EnergyJ)),
        ("  busy / idle", s => $"{Energy(s.BusyJoules)} / {Energy(s.IdleJoules)}"),
        ("J / output token", s => F(s.JPerOutputToken, "F3")),
        ("J / input token", s => F(s.JPerInputToken, "F4")),
        ("J / request", s => F(s.JPerRequest, "F1")),
        ("mean power", s => F(s.MeanWatts, "N0") + " W"),
        ("facility kWh (PUE)", s => $"{F(s.FacilityKwh, "N4")} ({F(s.Pue, "F2")})"),
        ("CO2 / cost", s => $"{F(s.Co2Grams, "N1")} g / {F(s.Cost, "N4")}"),
        ("— latency", _ => ""),
        ("TTFT p50 / p90 / p99", s => $"{Ms(s.Ttft.P50)} / {Ms(s.Ttft.P90)} / {Ms(s.Ttft.P99)}"),
        ("TPOT p50 / p90 / p99", s => $"{Ms(s.Tpot.P50)} / {Ms(s.Tpot.P90)} / {Ms(s.Tpot.P99)}"),
        ("E2E p50 / p99", s => $"{Ms(s.E2e.P50)} / {Ms(s.E2e.P99)}"),
        ("queueing mean / p99", s => $"{Ms(s.Queue.Mean)} / {Ms(s.Queue.P99)}"),
        ("SLO attainment", s => $"{Pct(s.SloAttainment)} (TTFT<={F(s.TtftTargetS, "G3")}s, TPOT<={F(s.TpotTargetS * 1000, "G3")}ms)"),
        ("— utilisation", _ => ""),
        ("throughput", s => $"{F(s.RequestsPerSecond, "F2")} req/s, {F(s.OutputTokensPerSecond, "N0")} tok/s"),
        ("GPU busy", s => Pct(s.BusyFraction)),
        ("peak KV use", s => Pct(s.PeakKvFraction)),
        ("preemptions", s => s.Preemptions.ToString("N0", CultureInfo.InvariantCulture)),
        ("wall time", s => F(s.WallSeconds, "F2") + " s" + (s.WallSeconds > 0 ? $" ({F(s.SimulatedSeconds / s.WallSeconds, "N0")}x real time)" : "")),
    ];
}
