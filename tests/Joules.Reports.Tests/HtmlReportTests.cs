using Joules.Simulation;
using Joules.Traces.Canonical;
using Xunit;

namespace Joules.Reports.Tests;

/// <summary>What the report reads and writes, without a browser: energy parts from the summary, downsampling, provenance and the self-contained file.</summary>
public sealed class HtmlReportTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("joules-html-").FullName;
    public void Dispose() => Directory.Delete(_dir, true);

    private static (SimulationSummary, ReportSink) Simulate()
    {
        var sc = new ScenarioSpec().With(Joules.Simulation.Settings.SimulateSettings.Instances, 2).Resolve(Joules.Tests.RepoPaths.Calibration);
        var sink = new ReportSink(1);
        var trace = CanonicalTraceReader.Read(Path.Combine(Joules.Tests.RepoPaths.Root, ShippedData.DefaultTrace));
        return (ClusterSimulation.Run(sc.Cluster, sc.CreateCostModel(), trace, sink), sink);
    }

    [Fact]
    public void Energy_parts_come_from_the_summary_and_add_up_to_the_servers_energy()
    {
        var (s, _) = Simulate();
        var parts = EnergyParts.From(s);
        Assert.Equal(["busy", "idle", "communication", "host", "waking"], parts.Parts.Select(p => p.Part));
        Assert.Equal(s.BusyJoules, parts.Parts[0].Joules);
        Assert.Equal(s.IdleJoules, parts.Parts[1].Joules);
        Assert.Equal(0, parts.Parts[2].Joules); // tp 1: no all-reduce
        Assert.Equal(s.HostJoules, parts.Parts[3].Joules);
        Assert.True(s.HostJoules > 0, "the default deployment's server card adds host energy");
        Assert.Equal(0, parts.Parts[4].Joules); // a fixed fleet never wakes
        Assert.Equal(s.ServerJ, parts.Total, s.ServerJ * 1e-12);
        Assert.Equal(2 * s.SimulatedSeconds / 3600, parts.GpuHours, 1e-12);
    }

    [Fact]
    public void The_report_is_one_file_with_its_provenance_and_no_outside_reference()
    {
        var (s, sink) = Simulate();
        var trace = Path.Combine(Joules.Tests.RepoPaths.Root, ShippedData.DefaultTrace);
        var path = Path.Combine(_dir, "report.html");
        HtmlReport.Write(path, [new ScenarioReport(s, sink)], TestProvenance.For("9.9.9", "joules simulate --out x", trace, 7, [s]));
        var html = File.ReadAllText(path);
        Assert.Contains(Joules.Profiles.Derived.ProfileDeriver.Sha256(trace), html);
        Assert.Contains("joules simulate --out x", html);
        Assert.DoesNotContain("<script src", html);
        // plotly.js names its CDN only for geo topojson, which no report chart uses; the browser test holds the page to no requests.
        Assert.Contains("Plotly.newPlot", html);
        Assert.Equal(9, html.Split("<section class=\"figure\"").Length - 1);
        Assert.DoesNotContain(Directory.GetFiles(_dir), f => f.Contains(".joules-partial-"));
    }

    [Fact]
    public void Downsampling_averages_neighbouring_bins_and_keeps_the_time_axis()
    {
        var values = Enumerable.Range(0, 2500).Select(i => (double)(i % 2)).ToArray();
        var s = HtmlReport.Downsample(values, 0.5, "x", max: 1000);
        Assert.Equal(834, s.X.Count);
        Assert.All(s.Y.Take(833), y => Assert.InRange(y, 1 / 3.0 - 1e-12, 2 / 3.0 + 1e-12));
        Assert.Equal(0.75, s.X[0], 12);
        Assert.True(s.X[^1] < 2500 * 0.5);
        var small = HtmlReport.Downsample([1, 2, 3], 1, "y");
        Assert.Equal([0.5, 1.5, 2.5], small.X);
        Assert.Equal([1.0, 2, 3], small.Y);
    }

    [Fact]
    public void A_latency_cdf_rises_to_one_over_the_served_requests()
    {
        var (_, sink) = Simulate();
        var (x, y) = ReportSink.Cdf(sink.Ttft);
        Assert.Equal(200, x.Length);
        Assert.Equal(1.0, y[^1]);
        for (var i = 1; i < x.Length; i++) Assert.True(x[i] >= x[i - 1] && y[i] > y[i - 1]);
        Assert.Empty(ReportSink.Cdf(new LogHistogram()).X);
    }
}
