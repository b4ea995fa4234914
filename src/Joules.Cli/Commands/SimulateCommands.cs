using System.CommandLine;
using System.Diagnostics;
using Joules.Progress;
using Joules.Reports;
using Joules.Runs;
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

    private static readonly Option<string?> TraceOpt = new("--trace", "-t") { Description = $"Trace to replay: canonical Parquet, or any layout `joules trace import` reads (Azure, BurstGPT, Mooncake, Vidur CSV/JSONL); default: the shipped {DefaultTrace}" };
    private static readonly Option<long?> SyntheticOpt = CliOptions.OptionalCount("--synthetic", "Instead of a trace, generate this many Poisson requests in-process (see --rate)", "a positive number of requests", v => v >= 1);
    private static readonly Option<double> RateOpt = CliOptions.Number("--rate", "Arrival rate of --synthetic requests per second", "a positive rate in requests per second", v => v > 0, 5.0);
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
        cmd.SetAction((p, cancel) => Task.FromResult(Run(p, cancel)));
        cmd.Subcommands.Add(SimulateBench.Create());
        return cmd;
    }

    /// <summary>The scenario described by the command-line options alone (unset options stay unset).</summary>
    internal static ScenarioSpec SpecFrom(ParseResult p) => Settings.Spec(p);

    private static int Run(ParseResult p, CancellationToken cancel)
    {
        var stdout = p.InvocationConfiguration.Output;
        var stderr = p.InvocationConfiguration.Error;
        var cli = SpecFrom(p);
        var scenarioPath = p.GetValue(ScenarioOpt);
        var file = scenarioPath != null ? ScenarioFile.Load(scenarioPath) : null;
        IReadOnlyList<ScenarioSpec> specs = [cli];
        if (file is not null)
        {
            (specs, var shadowed) = file.With(cli);
            foreach (var w in shadowed) stderr.WriteLine(w);
        }
        // Resolve every configuration before reading any trace, so bad input fails fast.
        foreach (var s in specs) s.Resolve(FindCalibrationRoot());

        // A trace and a synthetic one are two answers to one question; a rate means nothing without --synthetic.
        if (p.GetValue(SyntheticOpt) is not null && p.GetValue(TraceOpt) is { } both)
            throw new ArgumentException($"--synthetic generates the requests, --trace reads them from '{both}': give one");
        if (p.GetValue(SyntheticOpt) is null && p.GetResult(RateOpt) is { Implicit: false })
            stderr.WriteLine("warning: --rate sets the arrival rate of --synthetic requests; a trace keeps its own arrival times (ignored)");
        var trace = p.GetValue(SyntheticOpt) is { } count
            ? TraceInput.Synthetic(count, p.GetValue(RateOpt), cli.GetOr(SimulateSettings.Seed, 42))
            : TraceInput.File(p.GetValue(TraceOpt) ?? (file?.Trace is { } ft ? ResolveRelative(ft, scenarioPath!) : FindDefaultTrace()), cancel: cancel);
        foreach (var note in trace.Notes) stderr.WriteLine(note);

        var outDir = p.GetValue(OutOpt);
        using var progress = ProgressReporter.ForConsole(stderr, !p.GetValue(NoProgressOpt));
        var result = SimulateJob.Run(new SimulateJobRequest
        {
            Specs = specs,
            Trace = trace,
            OutDir = outDir,
            CommandLine = "joules " + string.Join(' ', p.Tokens.Select(t => t.Value.Contains(' ') ? $"\"{t.Value}\"" : t.Value)),
            ToolVersion = Program.VersionString,
            ProfileRoot = FindCalibrationRoot(),
        }, progress, stderr, cancel);

        if (p.GetValue(JsonOpt)) stdout.WriteLine(result.Json);
        else
        {
            stdout.WriteLine($"trace: {trace.Description}");
            ConsoleReport.Render(ConsoleFor(stdout), result.Summaries);
            if (outDir != null) stdout.WriteLine($"wrote {string.Join(", ", result.Written)} under {outDir}");
        }
        return 0;
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
        if (!terminal) console.Profile.Width = ConsoleReport.DefaultWidth;
        return console;
    }

    private static string ResolveRelative(string path, string relativeTo) =>
        Path.IsPathRooted(path) || File.Exists(path) ? path : Path.Combine(Path.GetDirectoryName(Path.GetFullPath(relativeTo)) ?? ".", path);

    /// <summary>The shipped default trace (next to the program, see <see cref="ShippedData"/>).</summary>
    internal static string FindDefaultTrace() => ShippedData.DefaultTracePath ?? throw new FileNotFoundException(
        $"no --trace given and the shipped default trace is missing (looked in {string.Join(", ", ShippedData.Candidates(DefaultTrace))}); pass --trace FILE or --synthetic N");

    /// <summary>The shipped calibration folder (measured profiles), or null.</summary>
    internal static string? FindCalibrationRoot() => ShippedData.CalibrationRoot;
}
