using System.Text.Json;
using Joules.Planning;
using Joules.Simulation;
using Joules.Simulation.Settings;
using Joules.Traces.Canonical;
using Microsoft.Playwright;
using Xunit;

namespace Joules.Reports.Tests;

/// <summary>Runs only where Debian's Chromium is installed (`apt-get install chromium`); under CI (CI=true) it must be, so there the test runs or fails.</summary>
public sealed class BrowserFactAttribute : FactAttribute
{
    public const string Chromium = "/usr/bin/chromium";

    public BrowserFactAttribute()
    {
        if (!File.Exists(Chromium) && Environment.GetEnvironmentVariable("CI") != "true")
            Skip = $"{Chromium} is not installed (apt-get install chromium): browser test skipped";
    }
}

/// <summary>The reports loaded in headless Chromium: no console errors, no network, and every chart drawn with the series and points it should have.</summary>
public sealed class BrowserReportTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("joules-report-").FullName;
    public void Dispose() => Directory.Delete(_dir, true);

    private static readonly string[] s_flags =
        ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

    private sealed record Trace(string Name, int Points, string Type);
    private sealed record Chart(string Key, Trace[] Traces, int Marks, string XTitle, string YTitle);

    private static async Task<(Chart[] Charts, List<string> Errors, List<string> Requests, int Figures)> Load(string html)
    {
        Assert.True(File.Exists(BrowserFactAttribute.Chromium), $"{BrowserFactAttribute.Chromium} is missing: install it with apt-get install chromium (.ci/run does)");
        using var pw = await Playwright.CreateAsync();
        await using var browser = await pw.Chromium.LaunchAsync(new() { ExecutablePath = BrowserFactAttribute.Chromium, Headless = true, Args = s_flags });
        var page = await browser.NewPageAsync(new() { ViewportSize = new() { Width = 1100, Height = 900 } });
        var errors = new List<string>();
        var requests = new List<string>();
        page.Console += (_, m) => { if (m.Type is "error" or "warning") errors.Add($"{m.Type}: {m.Text}"); };
        page.PageError += (_, e) => errors.Add("page error: " + e);
        page.Request += (_, r) => requests.Add(r.Url);
        await page.GotoAsync(new Uri(html).AbsoluteUri);
        var figures = await page.EvaluateAsync<int>("() => document.querySelectorAll('section.figure').length");
        await page.WaitForFunctionAsync("n => document.querySelectorAll('section.figure .js-plotly-plot .main-svg').length >= n", figures);
        var json = await page.EvaluateAsync<JsonElement>("""
            () => [...document.querySelectorAll('section.figure')].map(s => {
              const p = s.querySelector('.js-plotly-plot');
              const t = q => (s.querySelector(q) || {}).textContent || '';
              return {
                key: s.dataset.figure,
                traces: p.data.map(d => ({ name: d.name, points: (d.y || []).length, type: d.type })),
                marks: s.querySelectorAll('.scatterlayer .trace path.js-line, .scatterlayer .point, .barlayer .point').length,
                xTitle: t('.xtitle'), yTitle: t('.ytitle'),
              };
            })
            """);
        var charts = json.EnumerateArray().Select(c => new Chart(c.GetProperty("key").GetString()!,
            c.GetProperty("traces").EnumerateArray().Select(t => new Trace(t.GetProperty("name").GetString()!, t.GetProperty("points").GetInt32(), t.GetProperty("type").GetString()!)).ToArray(),
            c.GetProperty("marks").GetInt32(), c.GetProperty("xTitle").GetString()!, c.GetProperty("yTitle").GetString()!)).ToArray();
        await page.ScreenshotAsync(new() { Path = Path.ChangeExtension(html, ".png"), FullPage = true });
        return (charts, errors, requests, figures);
    }

    private static SimulationSummary Simulate(ScenarioSpec spec, ISimulationSink sink)
    {
        var sc = spec.Resolve(Joules.Tests.RepoPaths.Calibration);
        var trace = CanonicalTraceReader.Read(Path.Combine(Joules.Tests.RepoPaths.Root, ShippedData.DefaultTrace));
        return ClusterSimulation.Run(sc.Cluster, sc.CreateCostModel(), trace, sink);
    }

    [BrowserFact]
    public async Task The_simulation_report_draws_every_chart_with_its_series_and_points()
    {
        var specs = new[]
        {
            new ScenarioSpec().With(SimulateSettings.Name, "default").With(SimulateSettings.Instances, 4),
            new ScenarioSpec().With(SimulateSettings.Name, "clock 1400").With(SimulateSettings.Instances, 4).With(SimulateSettings.SmClock, 1400),
        };
        var reports = specs.Select(s => { var sink = new ReportSink(1); return new ScenarioReport(Simulate(s, sink), sink); }).ToArray();
        var path = Path.Combine(_dir, "report.html");
        var trace = Path.Combine(Joules.Tests.RepoPaths.Root, ShippedData.DefaultTrace);
        HtmlReport.Write(path, reports, TestProvenance.For("test", "joules simulate (test)", trace, 42, reports.Select(r => r.Summary)));
        var (charts, errors, requests, figures) = await Load(path);

        Assert.Empty(errors);
        Assert.All(requests, u => Assert.StartsWith("file:", u)); // nothing but the file itself: no network
        Assert.Equal(9, figures);
        Assert.Equal(["energy", "jpertoken", "slo", "gpuhours", "power", "states", "ttft-cdf", "tpot-cdf", "e2e-cdf"], charts.Select(c => c.Key));
        var names = reports.Select(r => r.Summary.Name).ToArray();
        var energy = charts[0];
        Assert.Equal(["busy", "idle", "communication", "host", "waking"], energy.Traces.Select(t => t.Name));
        Assert.All(energy.Traces, t => Assert.Equal(2, t.Points));
        Assert.Equal(10, energy.Marks); // a bar per part and scenario; the parts not reported yet are drawn at zero height
        Assert.Equal("energy (kWh)", energy.YTitle);
        foreach (var c in charts[1..4]) { Assert.Single(c.Traces); Assert.Equal(2, c.Traces[0].Points); Assert.Equal(2, c.Marks); }
        var span = (int)Math.Ceiling(reports.Max(r => r.Series!.Joules.Count) / 1.0);
        foreach (var c in charts[4..6])
        {
            Assert.Equal(2, c.Traces.Length);
            Assert.All(c.Traces, t => Assert.InRange(t.Points, span - 2, span));
            Assert.Equal("time since the first arrival (s)", c.XTitle);
            Assert.Equal(2, c.Marks);
        }
        Assert.Equal(names, charts[4].Traces.Select(t => t.Name));
        foreach (var c in charts[6..])
        {
            Assert.Equal(names, c.Traces.Select(t => t.Name));
            Assert.All(c.Traces, t => Assert.Equal(200, t.Points));
            Assert.Equal("fraction of requests", c.YTitle);
            Assert.Contains("log scale", c.XTitle);
        }
        Assert.True(new FileInfo(Path.ChangeExtension(path, ".png")).Length > 10_000);
    }

    [BrowserFact]
    public async Task The_plan_report_draws_the_pareto_charts_with_every_feasible_configuration()
    {
        var trace = Path.Combine(Joules.Tests.RepoPaths.Root, ShippedData.DefaultTrace);
        var header = PlanDefinition.Create(new Dictionary<string, IReadOnlyList<string>> { ["tpot_slo"] = ["0.0065"] }, ["default", "1400"], [], trace, null, 42,
            new PlanGoal(0.9), new InstanceSearch(Explicit: [1, 2, 3, 4]), "joules plan (test)", "test");
        var list = WorkList.Create(header);
        var results = new PlanResults(header, list.PlanId, PlanRunner.Run(new PlanEvaluator(header, PlanTrace.Load(header), Joules.Tests.RepoPaths.Calibration), list.Items), "0/1");
        var path = Path.Combine(_dir, "plan.html");
        PlanReport.Write(path, results);
        var (charts, errors, requests, figures) = await Load(path);

        Assert.Empty(errors);
        Assert.All(requests, u => Assert.StartsWith("file:", u));
        Assert.Equal(3, figures);
        var feasible = results.Feasible.Count();
        var frontier = results.Frontier.Count();
        Assert.True(frontier > 0, "the test plan needs points on the frontier");
        Assert.Contains(results.Points, p => p.Status == PlanStatus.StoppedEarly); // not drawn: a stopped run has no totals
        foreach (var c in charts)
        {
            Assert.Equal("energy (kWh)", c.YTitle);
            var t = c.Traces.ToDictionary(x => x.Name, x => x.Points);
            Assert.Equal(feasible - frontier, t["feasible"]);
            Assert.Equal(frontier, t["Pareto frontier"]);
            Assert.Equal(t.Values.Sum(), c.Marks);
        }
        Assert.Equal(["GPUs", "p99 time to first token (ms)", "p99 time per output token (ms)"], charts.Select(c => c.XTitle));
    }
}
