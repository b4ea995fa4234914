using System.Text.Json;
using Joules.Parquet;
using Joules.Profiles;
using Joules.Profiles.Roofline;
using Joules.Reports;
using Joules.Simulation;
using Spectre.Console;
using Xunit;

namespace Joules.Reports.Tests;

public class ReportTests
{
    private static readonly ICostModel Roof = new RooflineCostModel(Catalog.Gpu("h100-sxm"), Catalog.Model("llama-3.2-1b"));

    private static SimulationSummary Simulate(ISimulationSink? sink = null, string name = "a") =>
        ClusterSimulation.Run(new ClusterConfig { Name = name, Instances = 2 }, Roof, SyntheticTrace.Poisson(1, 100, 3), sink);

    [Fact]
    public void JsonCarriesTheSummaryNumbers()
    {
        var s = Simulate();
        using var doc = JsonDocument.Parse(SummaryJson.Serialize(s));
        var r = Assert.Single(doc.RootElement.GetProperty("scenarios").EnumerateArray());
        Assert.Equal(s.EnergyJ, r.GetProperty("energy_j").GetDouble(), 6);
        Assert.Equal(s.Ttft.P99, r.GetProperty("ttft_s").GetProperty("p99").GetDouble(), 12);
        Assert.Equal(2, r.GetProperty("per_instance").GetArrayLength());
        using var two = JsonDocument.Parse(SummaryJson.Serialize([s, Simulate(name: "b")]));
        Assert.Equal(2, two.RootElement.GetProperty("scenarios").GetArrayLength());
    }

    [Fact]
    public void TableSinkWritesEveryRequestToParquet()
    {
        var dir = Path.Combine(Path.GetTempPath(), "joules-rep-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        var rq = Path.Combine(dir, "requests.parquet");
        var pw = Path.Combine(dir, "power.parquet");
        var collect = new CollectingSink();
        SimulationSummary s;
        using (var sink = new TableSink(new ParquetTableWriter(rq), new ParquetTableWriter(pw)))
        {
            s = Simulate(new TeeSink(sink, collect));
            sink.Complete();
        }
        using var reader = ParquetFileReader.Open(rq);
        Assert.Equal(100, reader.RowCount);
        var energy = 0.0;
        foreach (var g in reader.ReadRowGroups(["energy_j"])) foreach (var e in g.Get<double>("energy_j").Span) energy += e;
        Assert.Equal(s.BusyJoules, energy, 1e-6 * s.BusyJoules);
        using var power = ParquetFileReader.Open(pw);
        Assert.Equal(collect.Power.Count, power.RowCount);
    }

    [Fact]
    public void ConsoleTableHasAColumnPerScenario()
    {
        var w = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(w), Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors });
        console.Profile.Width = 200;
        ConsoleReport.Render(console, [Simulate(name: "left"), Simulate(name: "right")]);
        var output = w.ToString();
        Assert.Contains("left", output);
        Assert.Contains("right", output);
        Assert.Contains("J / output token", output);
    }
}
