using System.CommandLine;
using System.Diagnostics;
using Joules.Reports;
using Joules.Simulation;
using Joules.Simulation.Settings;
using Joules.Traces;
using Spectre.Console;

namespace Joules.Cli.Commands;

/// <summary>The `joules simulate` command group.</summary>
public static class SimulateCommands
{
    /// <summary>The trace `joules simulate` replays when none is given, relative to the repository root.</summary>
    public const string DefaultTrace = ShippedData.DefaultTrace;

    private static readonly Option<string?> TraceOpt = new("--trace", "-t") { Description = $"Canonical trace (Parquet or CSV); default: the shipped {DefaultTrace}" };
    private static readonly Option<long?> SyntheticOpt = new("--synthetic") { Description = "Instead of a trace, generate this many Poisson requests in-process (see --rate)" };
    private static readonly Option<double> RateOpt = new("--rate") { Description = "Arrival rate of --synthetic requests per second", DefaultValueFactory = _ => 5.0 };
    private static readonly SettingOptions Settings = new(SimulateSettings.All);
    private static readonly Option<string?> ScenarioOpt = new("--scenario") { Description = "YAML file of configurations to compare side by side on the same trace (keys: the options above in snake_case)" };
    private static readonly Option<string?> OutOpt = new("--out", "-o") { Description = "Directory for summary.json, requests and power tables" };
    private static readonly Option<bool> JsonOpt = new("--json") { Description = "Print the summary JSON instead of the table" };
    private static readonly Option<bool> NoProgressOpt = new("--no-progress") { Description = "Do not show progress on stderr" };

    public static Command Create()
    {
        var cmd = new Command("simulate", "Replay a request trace through a simulated serving cluster and account its energy and latency");
        foreach (var o in new Option[] { TraceOpt, SyntheticOpt, RateOpt }.Concat(Settings.All).Concat([ScenarioOpt, OutOpt, JsonOpt, NoProgressOpt]))
            cmd.Options.Add(o);
        cmd.SetAction(Run);
        cmd.Subcommands.Add(SimulateBench.Create());
        return cmd;
    }

    /// <summary>The scenario described by the command-line options alone (unset options stay unset).</summary>
    internal static ScenarioSpec SpecFrom(ParseResult p) => Settings.Spec(p);

    private static int Run(ParseResult p)
    {
        var stdout = p.InvocationConfiguration.Output;
        var stderr = p.InvocationConfiguration.Error;
        var cli = SpecFrom(p);
        var profileRoot = FindCalibrationRoot();
        ScenarioFile? file = null;
        var scenarioPath = p.GetValue(ScenarioOpt);
        if (scenarioPath != null) file = ScenarioFile.Load(scenarioPath);

        // Resolve every configuration before reading any trace, so bad input fails fast.
        var specs = file == null
            ? [cli]
            : file.Scenarios.Select(s => s.Over(file.Defaults).Over(cli)).ToList();
        var scenarios = specs.Select(s => s.Resolve(profileRoot)).ToList();
        foreach (var sc in scenarios)
            if (sc.CostModelNote is { } note) stderr.WriteLine($"warning: scenario '{sc.Cluster.Name}' is priced by {note}");
        var costModels = ScenarioCostModels.Create(scenarios);

        var seed = cli.GetOr(SimulateSettings.Seed, 42);
        var synthetic = p.GetValue(SyntheticOpt);
        var tracePath = p.GetValue(TraceOpt) ?? (file?.Trace is { } ft ? ResolveRelative(ft, scenarioPath!) : null);
        Func<IEnumerable<TraceRequest>> trace;
        string traceName;
        if (synthetic is { } count)
        {
            if (count < 1) throw new ArgumentException($"--synthetic needs a positive request count, got {count}");
            var rate = p.GetValue(RateOpt);
            trace = () => SyntheticTrace.Poisson(seed, count, rate);
            traceName = $"synthetic ({count:N0} requests at {rate} req/s, seed {seed})";
        }
        else
        {
            var path = tracePath ?? FindDefaultTrace();
            trace = () => SimulateTraceSource.Open(path);
            traceName = path;
        }

        var outDir = p.GetValue(OutOpt);
        if (outDir != null) Directory.CreateDirectory(outDir);
        var showProgress = !p.GetValue(NoProgressOpt) && ReferenceEquals(stderr, Console.Error) && !Console.IsErrorRedirected;

        var summaries = new List<SimulationSummary>();
        var powerSeries = new List<ReportSink?>();
        for (var i = 0; i < scenarios.Count; i++)
        {
            var sc = scenarios[i];
            TableSink? sink = null;
            ReportSink? clusterPower = null;
            if (outDir != null)
            {
                clusterPower = new ReportSink(sc.Cluster.PowerBinSeconds);
                var dir = scenarios.Count == 1 ? outDir : Path.Combine(outDir, SafeName(sc.Cluster.Name));
                Directory.CreateDirectory(dir);
                sink = new TableSink(TableWriters.Factory(Path.Combine(dir, "requests")).Writer, TableWriters.Factory(Path.Combine(dir, "power")).Writer);
            }
            using (sink)
            {
                var sim = new ClusterSimulation(sc.Cluster, costModels[i], sink == null ? null : new TeeSink(sink, clusterPower!));
                var summary = showProgress
                    ? RunWithProgress(sim, trace(), stderr, sc.Cluster.Name)
                    : sim.Run(trace());
                sink?.Complete();
                summaries.Add(summary);
                powerSeries.Add(clusterPower);
            }
        }

        var json = SummaryJson.Serialize(summaries);
        if (outDir != null)
        {
            File.WriteAllText(Path.Combine(outDir, "summary.json"), json + Environment.NewLine);
            var provenance = ReportProvenance.Create(Program.VersionString, "joules " + string.Join(' ', Environment.GetCommandLineArgs().Skip(1)), traceName,
                synthetic is null ? traceName : null, seed,
                scenarios.Select((sc, k) => (sc.Cluster.Name, summaries[k].CostModel, CostModelKinds.Of(costModels[k]) == CostModelFactory.Profile ? sc.Cost.ProfilePath ?? CostModelFactory.FindProfile(sc.Cost) : null)));
            HtmlReport.Write(Path.Combine(outDir, "report.html"), summaries.Select((s, k) => new ScenarioReport(s, powerSeries[k])).ToArray(), provenance);
        }
        if (p.GetValue(JsonOpt)) stdout.WriteLine(json);
        else
        {
            stdout.WriteLine($"trace: {traceName}");
            ConsoleReport.Render(ConsoleFor(stdout), summaries);
            if (outDir != null) stdout.WriteLine($"wrote summary.json, report.html, requests and power tables under {outDir}");
        }
        return 0;
    }

    private static SimulationSummary RunWithProgress(ClusterSimulation sim, IEnumerable<TraceRequest> trace, TextWriter stderr, string name)
    {
        SimulationSummary? result = null;
        ConsoleFor(stderr).Progress()
            .Columns(new TaskDescriptionColumn(), new SpinnerColumn(), new ElapsedTimeColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask(Markup.Escape(name));
                task.IsIndeterminate = true;
                result = sim.Run(trace, pr => task.Description = Markup.Escape($"{name}: {pr.RequestsArrived:N0} requests, {pr.SimulatedSeconds:N0} s simulated"));
                task.StopTask();
            });
        return result!;
    }

    internal static IAnsiConsole ConsoleFor(TextWriter w)
    {
        var terminal = (ReferenceEquals(w, Console.Out) && !Console.IsOutputRedirected) || (ReferenceEquals(w, Console.Error) && !Console.IsErrorRedirected);
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(w),
            Ansi = terminal ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = terminal ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
            Interactive = ReferenceEquals(w, Console.Error) ? InteractionSupport.Detect : InteractionSupport.No,
        });
        // Files and pipes have no width: do not wrap side-by-side scenario columns at 80.
        if (!terminal) console.Profile.Width = 60 + 40 * 4;
        return console;
    }

    private static string SafeName(string name) => string.Concat(name.Select(c => char.IsLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_'));

    private static string ResolveRelative(string path, string relativeTo) =>
        Path.IsPathRooted(path) || File.Exists(path) ? path : Path.Combine(Path.GetDirectoryName(Path.GetFullPath(relativeTo)) ?? ".", path);

    /// <summary>The shipped default trace (next to the program, see <see cref="ShippedData"/>).</summary>
    internal static string FindDefaultTrace() => ShippedData.DefaultTracePath ?? throw new FileNotFoundException(
        $"no --trace given and the shipped default trace is missing (looked in {string.Join(", ", ShippedData.Candidates(DefaultTrace))}); pass --trace FILE or --synthetic N");

    /// <summary>The shipped calibration folder (measured profiles), or null.</summary>
    internal static string? FindCalibrationRoot() => ShippedData.CalibrationRoot;
}
