using Joules.Output;
using Joules.Profiles;
using Joules.Profiles.Measured;
using Joules.Progress;
using Joules.Reports;
using Joules.Simulation;
using Joules.Simulation.Settings;

namespace Joules.Runs;

/// <summary>What `joules simulate` was asked to do.</summary>
public sealed record SimulateJobRequest
{
    /// <summary>One spec per scenario, already layered (scenario entry over file defaults over command line).</summary>
    public required IReadOnlyList<ScenarioSpec> Specs { get; init; }
    public required TraceInput Trace { get; init; }
    /// <summary>Folder for summary.json, report.html and the request and power tables; null writes nothing.</summary>
    public string? OutDir { get; init; }
    public string CommandLine { get; init; } = "";
    public string ToolVersion { get; init; } = "0.0.0";
    /// <summary>Where shipped measured profiles live (<see cref="ShippedData.CalibrationRoot"/>).</summary>
    public string? ProfileRoot { get; init; }
}

/// <summary>What a simulate job produced.</summary>
public sealed record SimulateJobResult(IReadOnlyList<SimulationSummary> Summaries, RunProvenance Provenance, string Json, IReadOnlyList<string> Written);

/// <summary>
/// Runs a simulate job end to end: resolves every scenario before reading the trace (bad input fails fast), builds
/// each cost model once, replays the trace per scenario with progress and cancellation, and writes the outputs into a
/// staged folder that replaces <see cref="SimulateJobRequest.OutDir"/> whole only when everything is written.
/// </summary>
public static class SimulateJob
{
    /// <summary>Share of busy energy priced by extrapolation above which a run warns.</summary>
    public const double ExtrapolationWarning = 0.20;

    public static SimulateJobResult Run(SimulateJobRequest request, ProgressReporter? progress = null, TextWriter? warnings = null, CancellationToken cancel = default)
    {
        try
        {
            return RunCore(request, progress, warnings, cancel);
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
            throw new OperationCanceledException(request.OutDir is { } d
                ? $"nothing was written: '{d}' is as it was before the run"
                : "the simulation was stopped before it finished; nothing was written", cancel);
        }
    }

    private static SimulateJobResult RunCore(SimulateJobRequest request, ProgressReporter? progress, TextWriter? warnings, CancellationToken cancel)
    {
        var scenarios = request.Specs.Select(s => s.Resolve(request.ProfileRoot)).ToList();
        foreach (var sc in scenarios)
        {
            if (sc.CostModelNote is { } note) warnings?.WriteLine($"warning: scenario '{sc.Cluster.Name}' is priced by {note}");
            if (sc.ShadowedProfile is { } shadow) warnings?.WriteLine($"warning: scenario '{sc.Cluster.Name}': {shadow}");
        }
        var costModels = ScenarioCostModels.Create(scenarios);
        for (var i = 0; i < scenarios.Count; i++)
            if (CostModelKinds.Unwrap(costModels[i]) is ProfileCostModel { IsDerived: true } derived)
                warnings?.WriteLine($"note: scenario '{scenarios[i].Cluster.Name}' is priced by a derived profile ({derived.Derivation?.Note ?? derived.SourcePath})");
        var seed = request.Specs.Count > 0 ? request.Specs[0].GetOr(SimulateSettings.Seed, 42) : 42;
        var provenance = new RunProvenance
        {
            ToolVersion = request.ToolVersion,
            CommandLine = request.CommandLine,
            Trace = request.Trace.Description,
            TraceSha256 = request.Trace.Path is { } tp ? RunProvenance.Sha256(tp) : null,
            TraceRequests = request.Trace.Count,
            Seed = seed,
            CreatedUtc = DateTimeOffset.UtcNow,
            Scenarios = scenarios.Select((sc, i) => Describe(sc, costModels[i])).ToList(),
        };

        StagedDirectory? staged = null;
        if (request.OutDir is { } outDir)
        {
            if (request.Trace.Path is { } input) OutputPaths.RefuseIfInput(outDir, [input]);
            if (request.Trace.Path is { } inside && OutputPaths.FindInputWithin(outDir, [inside]) is { } clash)
                throw new OutputRefusedException($"--out: '{outDir}' holds the trace '{clash}', which the new results would replace; choose another folder");
            staged = StagedDirectory.Create(outDir, cancel);
        }
        using (staged)
        {
            var summaries = new List<SimulationSummary>();
            var power = new List<ReportSink?>();
            var written = new List<string>();
            var folders = ScenarioFolders(scenarios.Select(sc => sc.Cluster.Name).ToArray());
            for (var i = 0; i < scenarios.Count; i++)
            {
                cancel.ThrowIfCancellationRequested();
                var sc = scenarios[i];
                var span = PowerBins.EstimateSpan(request.Trace, sc.Cluster, costModels[i]);
                double? asked = request.Specs[i].TryGet(SimulateSettings.PowerBin, out var pb) ? pb : null;
                var cluster = sc.Cluster with { PowerBinSeconds = PowerBins.Choose(asked, span, sc.Cluster.Instances, out _) };
                TableSink? sink = null;
                ReportSink? clusterPower = null;
                if (staged != null)
                {
                    var dir = scenarios.Count == 1 ? "" : folders[i] + "/";
                    var meta = provenance.ParquetMetadata(provenance.Scenarios[i]);
                    clusterPower = new ReportSink(cluster.PowerBinSeconds);
                    var rq = staged.PathFor(dir + "requests.parquet");
                    var pw = staged.PathFor(dir + "power.parquet");
                    sink = new TableSink(new ParquetTableWriter(rq, meta), new ParquetTableWriter(pw, meta));
                    written.Add(dir + "requests.parquet");
                    written.Add(dir + "power.parquet");
                }
                using (sink)
                {
                    var sim = new ClusterSimulation(cluster, costModels[i], sink == null ? null : new TeeSink(sink, clusterPower!));
                    progress?.Begin(scenarios.Count == 1 ? "simulating" : $"simulating {cluster.Name}", request.Trace.Count);
                    var summary = sim.Run(request.Trace.Read(cancel), p => progress?.Report(p.RequestsArrived), cancel);
                    progress?.End();
                    sink?.Complete();
                    if (summary.IdleShare > 0.5 && summary.Autoscaler == Simulation.Autoscaling.AutoscalerNames.Fixed)
                        warnings?.WriteLine($"note: scenario '{cluster.Name}' spends {summary.IdleShare:P0} of its GPU energy idle on a fixed fleet of {summary.Instances}; fewer instances or --autoscaler reactive|predictive would show what scaling saves");
                    if (summary.ExtrapolatedShare > ExtrapolationWarning)
                        warnings?.WriteLine($"warning: scenario '{cluster.Name}': {summary.ExtrapolatedShare:P0} of busy energy is priced beyond the measured grid (extrapolated); measure the shapes it runs (joules calibrate) or read its figures as estimates");
                    summaries.Add(summary);
                    power.Add(clusterPower);
                }
            }
            var json = SummaryJson.Serialize(summaries, provenance);
            if (staged != null)
            {
                progress?.Begin("writing summary and report", null);
                File.WriteAllText(staged.PathFor("summary.json"), json + Environment.NewLine);
                HtmlReport.Write(staged.PathFor("report.html"), summaries.Select((sum, k) => new ScenarioReport(sum, power[k])).ToArray(), provenance, cancel);
                written.Insert(0, "report.html");
                written.Insert(0, "summary.json");
                cancel.ThrowIfCancellationRequested();
                staged.Commit();
                progress?.End();
            }
            return new SimulateJobResult(summaries, provenance, json, written);
        }
    }

    private static ScenarioProvenance Describe(Scenario sc, ICostModel cost)
    {
        var profile = CostModelKinds.Unwrap(cost) is ProfileCostModel p ? p.SourcePath : null;
        return new ScenarioProvenance(sc.Cluster.Name, sc.Cluster.Deployment?.ToString() ?? "",
            sc.CostModelNote != null ? CostModelFactory.Roofline : CostModelKinds.Of(cost), sc.CostModelNote ?? cost.Name,
            profile, profile != null && File.Exists(profile) ? RunProvenance.Sha256(profile) : null);
    }

    /// <summary>A scenario name as a folder name.</summary>
    public static string SafeName(string name) => string.Concat(name.Select(c => char.IsLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_'));

    /// <summary>Files a run writes at the top of its output folder, which no scenario folder may be named.</summary>
    private static readonly string[] s_topLevel = ["summary.json", "report.html"];

    /// <summary>
    /// One folder name per scenario, in order: its <see cref="SafeName"/>, made distinct where two names map to one folder
    /// (`a?` and `a*` are both `a_`; folders also differ only in case on some file systems) or a name is one of the run's own
    /// files or hidden (leading dot), by a suffix -2, -3, ...; otherwise one scenario's files would replace another's.
    /// </summary>
    public static IReadOnlyList<string> ScenarioFolders(IReadOnlyList<string> names)
    {
        var used = new HashSet<string>(s_topLevel, StringComparer.OrdinalIgnoreCase);
        var folders = new List<string>(names.Count);
        foreach (var name in names)
        {
            var safe = SafeName(name).TrimStart('.');
            if (safe.Length == 0) safe = "scenario";
            var folder = safe;
            for (var k = 2; !used.Add(folder); k++) folder = $"{safe}-{k}";
            folders.Add(folder);
        }
        return folders;
    }
}
