using System.CommandLine;
using System.Diagnostics;
using Joules.Reports;
using Joules.Simulation;
using Joules.Traces;
using Spectre.Console;

namespace Joules.Cli.Commands;

/// <summary>The `joules simulate` command group.</summary>
public static class SimulateCommands
{
    /// <summary>The trace `joules simulate` replays when none is given, relative to the repository root.</summary>
    public const string DefaultTrace = "traces/azure-conv-5min.parquet";

    private static readonly Option<string?> TraceOpt = new("--trace", "-t") { Description = $"Canonical trace (Parquet or CSV); default: the shipped {DefaultTrace}" };
    private static readonly Option<long?> SyntheticOpt = new("--synthetic") { Description = "Instead of a trace, generate this many Poisson requests in-process (see --rate)" };
    private static readonly Option<double> RateOpt = new("--rate") { Description = "Arrival rate of --synthetic requests per second", DefaultValueFactory = _ => 5.0 };
    private static readonly Option<string?> CostModelOpt = new("--cost-model") { Description = "How iterations are priced: auto (default: the measured profile shipped under calibration/ for this GPU, model and tp, else roofline), profile (measured; see --profile) or roofline (analytic datasheet estimate)" };
    private static readonly Option<string?> ProfileOpt = new("--profile") { Description = "Measured calibration profile (profile.parquet from `joules calibrate`); GPU, model and tp default to the profile's" };
    private static readonly Option<string?> GpuOpt = new("--gpu") { Description = "GPU datasheet name (h100-sxm, h200, a100-sxm) or JSON file; default h100-sxm, or the GPU a measured profile for the model ships for when h100-sxm has none" };
    private static readonly Option<string?> ModelOpt = new("--model", "-m") { Description = "Model card name (llama-3.1-8b, llama-3.1-70b, ...) or JSON file; default llama-3.1-8b" };
    private static readonly Option<int?> InstancesOpt = new("--instances", "-n") { Description = "Model replicas in the cluster; default 8" };
    private static readonly Option<int?> TpOpt = new("--tp") { Description = "Tensor-parallel GPUs per instance; default 1" };
    private static readonly Option<string?> BatchingOpt = new("--batching") { Description = "continuous (vLLM-style, default) or static" };
    private static readonly Option<int?> MaxTokensOpt = new("--max-num-batched-tokens") { Description = "Token budget of one iteration; default 8192" };
    private static readonly Option<int?> MaxSeqsOpt = new("--max-num-seqs") { Description = "Most sequences per iteration; default 256" };
    private static readonly Option<bool> NoChunkOpt = new("--no-chunked-prefill") { Description = "Prefill each prompt in one iteration" };
    private static readonly Option<int?> BlockSizeOpt = new("--block-size") { Description = "KV-cache block size in tokens; default 16" };
    private static readonly Option<double?> MemUtilOpt = new("--gpu-memory-utilization") { Description = "Fraction of GPU memory for weights and KV cache; default 0.9" };
    private static readonly Option<int?> KvBlocksOpt = new("--kv-blocks") { Description = "Override the KV-cache capacity per instance, in blocks" };
    private static readonly Option<string?> RouterOpt = new("--router", "-r") { Description = $"Routing policy: {string.Join(", ", RouterNames.All)}; default least-outstanding" };
    private static readonly Option<string?> ModeOpt = new("--mode") { Description = "online (trace arrival times, default) or offline (whole trace as a backlog)" };
    private static readonly Option<double?> TtftOpt = new("--ttft-slo") { Description = "TTFT target in seconds; default 2" };
    private static readonly Option<double?> TpotOpt = new("--tpot-slo") { Description = "TPOT target in seconds; default 0.1" };
    private static readonly Option<double?> PueOpt = new("--pue") { Description = "Power usage effectiveness of the facility; default 1" };
    private static readonly Option<double?> CarbonOpt = new("--carbon") { Description = "Grid carbon intensity, g CO2 per kWh" };
    private static readonly Option<double?> PriceOpt = new("--price") { Description = "Electricity price per kWh" };
    private static readonly Option<int?> SeedOpt = new("--seed") { Description = "Random seed (synthetic trace, random router); default 42" };
    private static readonly Option<double?> PowerBinOpt = new("--power-bin") { Description = "Width of power-timeline bins in seconds; default 1" };
    private static readonly Option<string?> ScenarioOpt = new("--scenario") { Description = "YAML file of configurations to compare side by side on the same trace" };
    private static readonly Option<string?> OutOpt = new("--out", "-o") { Description = "Directory for summary.json, requests and power tables" };
    private static readonly Option<bool> JsonOpt = new("--json") { Description = "Print the summary JSON instead of the table" };
    private static readonly Option<bool> NoProgressOpt = new("--no-progress") { Description = "Do not show progress on stderr" };

    public static Command Create()
    {
        var cmd = new Command("simulate", "Replay a request trace through a simulated serving cluster and account its energy and latency");
        foreach (var o in new Option[]
                 {
                     TraceOpt, SyntheticOpt, RateOpt, CostModelOpt, ProfileOpt, GpuOpt, ModelOpt, InstancesOpt, TpOpt, BatchingOpt, MaxTokensOpt,
                     MaxSeqsOpt, NoChunkOpt, BlockSizeOpt, MemUtilOpt, KvBlocksOpt, RouterOpt, ModeOpt, TtftOpt, TpotOpt, PueOpt, CarbonOpt,
                     PriceOpt, SeedOpt, PowerBinOpt, ScenarioOpt, OutOpt, JsonOpt, NoProgressOpt,
                 })
            cmd.Options.Add(o);
        cmd.SetAction(Run);
        cmd.Subcommands.Add(SimulateBench.Create());
        return cmd;
    }

    /// <summary>The scenario described by the command-line options alone (unset options stay unset).</summary>
    internal static ScenarioSpec SpecFrom(ParseResult p) => new()
    {
        CostModel = p.GetValue(CostModelOpt), Profile = p.GetValue(ProfileOpt), Gpu = p.GetValue(GpuOpt), Model = p.GetValue(ModelOpt),
        Tp = p.GetValue(TpOpt), Instances = p.GetValue(InstancesOpt), Router = p.GetValue(RouterOpt), Mode = p.GetValue(ModeOpt),
        Batching = p.GetValue(BatchingOpt), ChunkedPrefill = p.GetValue(NoChunkOpt) ? false : null,
        MaxNumBatchedTokens = p.GetValue(MaxTokensOpt), MaxNumSeqs = p.GetValue(MaxSeqsOpt), BlockSize = p.GetValue(BlockSizeOpt),
        GpuMemoryUtilization = p.GetValue(MemUtilOpt), KvBlocks = p.GetValue(KvBlocksOpt), TtftSlo = p.GetValue(TtftOpt),
        TpotSlo = p.GetValue(TpotOpt), Pue = p.GetValue(PueOpt), Carbon = p.GetValue(CarbonOpt), Price = p.GetValue(PriceOpt),
        Seed = p.GetValue(SeedOpt), PowerBin = p.GetValue(PowerBinOpt),
    };

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
            : file.Scenarios.Select(s => s.Over(file.Defaults ?? new ScenarioSpec()).Over(cli)).ToList();
        var scenarios = specs.Select(s => s.Resolve(profileRoot)).ToList();
        var costModels = scenarios.Select(s => s.CreateCostModel()).ToList();

        var seed = cli.Seed ?? 42;
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
        var powerSeries = new List<ClusterPowerSink?>();
        for (var i = 0; i < scenarios.Count; i++)
        {
            var sc = scenarios[i];
            TableSink? sink = null;
            ClusterPowerSink? clusterPower = null;
            if (outDir != null)
            {
                clusterPower = new ClusterPowerSink(sc.Cluster.PowerBinSeconds);
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
            HtmlReport.Write(Path.Combine(outDir, "report.html"), summaries, powerSeries, traceName);
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

    /// <summary>The shipped default trace, found by walking up from the working directory and from the program to the folder holding Simulator.sln.</summary>
    internal static string FindDefaultTrace()
    {
        var (found, tried) = FindShipped(DefaultTrace);
        if (found != null) return found;
        throw new FileNotFoundException(tried.Count == 0
            ? $"no --trace given and the default trace {DefaultTrace} was not found (no Simulator.sln above {Directory.GetCurrentDirectory()}); pass --trace FILE or --synthetic N"
            : $"no --trace given and the default trace is missing: {string.Join(", ", tried.Distinct())}; pass --trace FILE or --synthetic N");
    }

    /// <summary>The shipped calibration folder (measured profiles) of the checkout joules runs from, or null.</summary>
    internal static string? FindCalibrationRoot() => FindShipped("calibration").Found;

    /// <summary>A path relative to the repository root, looked for above the working directory and above the program.</summary>
    private static (string? Found, List<string> Tried) FindShipped(string relative)
    {
        var tried = new List<string>();
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir != null; dir = dir.Parent)
            {
                if (!File.Exists(Path.Combine(dir.FullName, "Simulator.sln"))) continue;
                var path = Path.Combine(dir.FullName, relative);
                if (File.Exists(path) || Directory.Exists(path)) return (path, tried);
                tried.Add(path);
                break;
            }
        }
        return (null, tried);
    }
}
