using System.CommandLine;
using Joules.Planning;
using Joules.Progress;
using Joules.Reports;
using Joules.Simulation;
using Joules.Simulation.Settings;
using Joules.Traces;

namespace Joules.Cli.Commands;

/// <summary>`joules plan` (search a space of configurations for the ones that meet an SLO goal) and `joules plan merge` (combine shards).</summary>
public static class PlanCommands
{
    private static readonly Option<string?> TraceOpt = new("--trace", "-t") { Description = $"Trace to replay (any supported layout); default: the shipped {ShippedData.DefaultTrace}" };
    private static readonly Option<string?> LikeOpt = new("--like") { Description = "Replay a synthetic trace fitted to this one (rate, burstiness, lengths) instead; needs --duration" };
    private static readonly Option<string?> DurationOpt = new("--duration", "-d") { Description = "With --like: length of the synthetic trace (300s, 5m, 1h, 7d)" };
    private static readonly Option<double> AttainmentOpt = CliOptions.Number("--attainment", "Fraction of requests that must meet both the TTFT and TPOT targets (rejected requests count as misses)", "a fraction in (0, 1]", v => v is > 0 and <= 1, 0.99);
    private static readonly Option<string> ObjectiveOpt = new("--objective") { Description = "What to minimise among configurations that meet the goal: energy, cost (energy at --price plus --gpu-hour-price) or gpus", DefaultValueFactory = _ => "energy" };
    private static readonly Option<double> GpuHourPriceOpt = CliOptions.Number("--gpu-hour-price", "Price of one GPU-hour, for --objective cost", "a price, at least 0", v => v >= 0, 0);
    private static readonly Option<string?> InstancesOpt = new("--instances", "-n") { Description = "Instance counts to try, e.g. 2,4,8 (default: for each setting, the smallest count in [--min-instances, --max-instances] that meets the goal, by bisection)" };
    // The bisection's bounds take --min-instances/--max-instances; the autoscaler's floor of that name (simulate's
    // --min-instances) is left out of the setting options below, so each name has one meaning, and is searched with --vary.
    private static readonly Option<int> MinInstancesOpt = CliOptions.Whole("--min-instances",
        $"Smallest instance count the bisection considers (the autoscaler's floor, simulate's --min-instances, is --vary {SimulateSettings.MinInstances.YamlKey}=N,...)",
        $"a whole number, at least 1 (the bisection's lower bound; for the autoscaler's floor give --vary {SimulateSettings.MinInstances.YamlKey}=N)", v => v >= 1, 1);
    private static readonly Option<int> MaxInstancesOpt = CliOptions.Whole("--max-instances", "Largest instance count the bisection considers (a setting that misses the goal here is infeasible)", "a whole number, at least 1", v => v >= 1, 16);
    private static readonly Option<string?> ClockOpt = new("--clock") { Description = "Clock choices to search: default, a fixed MHz (1600), per-phase[:PREFILL/DECODE], slo-aware[:MIN], comma-separated" };
    private static readonly Option<string[]> VaryOpt = new("--vary") { Description = "Any other simulate setting to search, KEY=V1,V2 (e.g. --vary prefix_caching=on,off); repeatable", AllowMultipleArgumentsPerToken = false };
    private static readonly Option<string> OutOpt = new("--out", "-o")
    {
        Description = $"Folder for {PlanOutput.WorkListFile}, {PlanOutput.ResultsFile} and {PlanOutput.ReportFile}, replaced whole (a non-empty folder joules did not write is refused)",
        Required = true,
    };
    private static readonly Option<bool> ListOnlyOpt = new("--list-only") { Description = "Write the work list only (for a fleet: then run each shard with --work-list and --shard)" };
    private static readonly Option<string?> WorkListOpt = new("--work-list") { Description = "Evaluate this work list (written by an earlier `joules plan`) instead of making one" };
    private static readonly Option<string?> ShardOpt = new("--shard") { Description = "Evaluate only slice I of N (0-based: I/N, e.g. $JOB_COMPLETION_INDEX/8 or $SLURM_ARRAY_TASK_ID/8); merge the results with `joules plan merge`" };
    private static readonly Option<int?> JobsOpt = CliOptions.OptionalWhole("--jobs", "Simulations run at once (default: one per core)", "a whole number, at least 0 (0: one per core)", v => v >= 0);
    private static readonly Option<bool> NoProgressOpt = new("--no-progress") { Description = "Do not show progress on stderr" };

    /// <summary>Every simulate setting, accepting a comma-separated list (a list makes it a dimension of the search).</summary>
    private static readonly IReadOnlyList<(Setting Setting, Option<string?> Option)> SettingLists = SimulateSettings.All
        .Where(s => s != SimulateSettings.Name && s != SimulateSettings.Instances && s != SimulateSettings.MinInstances)
        .Select(s => (s, new Option<string?>(s.OptionName, s.Alias is { } a && a != "-n" ? [a] : [])
        {
            Description = s.HelpWithDefault + "; a comma-separated list is searched",
            HelpName = s.IsSwitch ? "on|off,..." : "VALUE,...",
        })).ToArray();

    public static Command Create()
    {
        var cmd = new Command("plan",
            "Search configurations (GPU type, tp, instances, max-num-seqs, router, clocks, any simulate setting) for the ones that meet an SLO goal, " +
            "with the Pareto frontier of energy, p99 TTFT, p99 TPOT and GPU count. Every setting below takes a comma-separated list; " +
            "instance counts are found by bisection. Writes worklist.parquet, results.parquet (every evaluated configuration) and report.html.");
        foreach (var o in new Option[] { TraceOpt, LikeOpt, DurationOpt, AttainmentOpt, ObjectiveOpt, GpuHourPriceOpt, InstancesOpt, MinInstancesOpt, MaxInstancesOpt, ClockOpt, VaryOpt }
                     .Concat(SettingLists.Select(s => s.Option)).Concat([OutOpt, ListOnlyOpt, WorkListOpt, ShardOpt, JobsOpt, NoProgressOpt]))
            cmd.Options.Add(o);
        cmd.SetAction((p, cancel) => Task.FromResult(Run(p, cancel)));
        cmd.Subcommands.Add(CreateMerge());
        return cmd;
    }

    private static int Run(ParseResult p, CancellationToken cancel)
    {
        var stdout = p.InvocationConfiguration.Output;
        var stderr = p.InvocationConfiguration.Error;
        var outDir = p.GetValue(OutOpt)!;
        var listOnly = p.GetValue(ListOnlyOpt);
        var shardText = p.GetValue(ShardOpt);
        // Every argument is checked before anything is written: a bad one leaves the output folder as it was.
        WorkList list;
        var inputs = new List<string>();
        var workList = p.GetValue(WorkListOpt);
        if (workList is { } wl)
        {
            if (p.GetResult(TraceOpt) is { Implicit: false } || p.GetResult(LikeOpt) is { Implicit: false } || SettingLists.Any(s => p.GetResult(s.Option) is { Implicit: false }))
                throw new ArgumentException("--work-list carries the whole plan: give no trace or settings with it");
            if (listOnly) throw new ArgumentException("--list-only writes a new work list and --work-list evaluates an existing one: give one of them");
            list = WorkList.Read(wl);
            inputs.Add(wl);
        }
        else list = WorkList.Create(Header(p));
        if (listOnly && shardText != null) throw new ArgumentException("--shard picks what to evaluate, and --list-only evaluates nothing: give --shard with --work-list");
        var shard = shardText is { } sh ? ShardSpec.Parse(sh) : ShardSpec.All;
        inputs.Add(list.Header.Trace);
        var describe = $"{list.Items.Count:N0} settings x instances {list.Header.Instances.Describe()} (plan {list.PlanId})";
        try
        {
            if (listOnly)
            {
                using var listed = PlanOutput.Create(outDir, inputs, cancel);
                listed.Write(list, cancel);
                listed.Commit();
                stdout.WriteLine($"work list: {describe} -> {Path.Combine(outDir, PlanOutput.WorkListFile)}");
                return 0;
            }
            var items = list.Slice(shard);
            var trace = PlanTrace.Load(list.Header, cancel);
            var evaluator = new PlanEvaluator(list.Header, trace, ShippedData.CalibrationRoot);
            // Staged before the evaluation, so a folder that would be refused is refused before the simulations, not after.
            using var output = PlanOutput.Create(outDir, inputs, cancel);
            stdout.WriteLine($"work list: {describe}");
            IReadOnlyList<PlanPoint> points;
            using (var progress = ProgressReporter.ForConsole(stderr, !p.GetValue(NoProgressOpt)))
            {
                progress.Begin($"plan {list.PlanId} shard {shard}: settings", items.Count);
                points = PlanRunner.Run(evaluator, items, p.GetValue(JobsOpt) ?? 0, (done, _, evaluations) => { progress.Report(done); progress.Count(evaluations); }, cancel);
                progress.End();
            }
            var results = new PlanResults(list.Header, list.PlanId, points, shard.ToString());
            // A shard's folder holds its results only: the work list it read stays where it was.
            if (workList is null) output.Write(list, cancel);
            output.Write(results, cancel);
            output.Add(PlanOutput.ReportFile, path => PlanReport.Write(path, results, cancel));
            output.Commit();
            PlanText.Write(stdout, results);
            stdout.WriteLine($"wrote {string.Join(", ", output.Written)} under {outDir}");
            return 0;
        }
        catch (OperationCanceledException e) when (cancel.IsCancellationRequested)
        {
            throw new OperationCanceledException(PlanOutput.NotWrittenMessage(outDir), e, cancel);
        }
    }

    private static PlanHeader Header(ParseResult p)
    {
        var like = p.GetValue(LikeOpt);
        var durationText = p.GetValue(DurationOpt);
        if (like != null && p.GetValue(TraceOpt) != null) throw new ArgumentException("give --trace or --like, not both");
        if (like != null && durationText == null) throw new ArgumentException("--like needs --duration (the length of the synthetic trace)");
        if (like == null && durationText != null) throw new ArgumentException("--duration goes with --like");
        double? duration = null;
        if (durationText != null)
        {
            if (!TraceDuration.TryParseSeconds(durationText, out var d) || !(d > 0))
                throw new ArgumentException($"--duration: '{durationText}' is not a positive duration (e.g. 90s, 5m, 1h, 7d)");
            duration = d;
        }
        var trace = like ?? p.GetValue(TraceOpt) ?? SimulateCommands.FindDefaultTrace();
        var settings = new Dictionary<string, IReadOnlyList<string>>();
        foreach (var (s, o) in SettingLists)
            if (p.GetValue(o) is { } text) settings[s.YamlKey] = PlanDefinition.SplitList(text);
        var instances = p.GetValue(InstancesOpt) is { } it
            ? new InstanceSearch(Explicit: PlanDefinition.SplitList(it).Select(v => int.TryParse(v, out var n) ? n : throw new ArgumentException($"--instances: '{v}' is not a whole number")).ToArray())
            : new InstanceSearch(p.GetValue(MinInstancesOpt), p.GetValue(MaxInstancesOpt));
        var goal = new PlanGoal(p.GetValue(AttainmentOpt), PlanGoal.ParseObjective(p.GetValue(ObjectiveOpt)!), p.GetValue(GpuHourPriceOpt));
        var seed = settings.TryGetValue(SimulateSettings.Seed.YamlKey, out var seeds) && seeds.Count == 1 && int.TryParse(seeds[0], out var sd) ? sd : 42;
        return PlanDefinition.Create(settings, p.GetValue(ClockOpt) is { } c ? PlanDefinition.SplitList(c) : [], p.GetValue(VaryOpt) ?? [],
            trace, duration, seed, goal, instances, "joules " + string.Join(' ', Environment.GetCommandLineArgs().Skip(1)), Program.VersionString);
    }

    private static Command CreateMerge()
    {
        var files = new Argument<string[]>("results") { Description = "results.parquet files of the shards of one plan", Arity = ArgumentArity.OneOrMore };
        var outOpt = new Option<string>("--out", "-o") { Description = "Folder for the merged results.parquet and report.html", Required = true };
        var workList = new Option<string?>("--work-list") { Description = "The plan's work list: merge then says which settings no shard has evaluated yet" };
        var cmd = new Command("merge", "Combine the results of a plan's shards into one results.parquet and report.html (the same as evaluating the whole plan on one machine)");
        cmd.Arguments.Add(files);
        cmd.Options.Add(outOpt);
        cmd.Options.Add(workList);
        cmd.SetAction((p, cancel) =>
        {
            var stdout = p.InvocationConfiguration.Output;
            var merged = PlanResults.Merge(p.GetValue(files)!.Select(PlanResults.Read).ToArray());
            if (p.GetValue(workList) is { } wl)
            {
                var list = WorkList.Read(wl);
                if (list.PlanId != merged.PlanId) throw new ArgumentException($"{wl} is plan {list.PlanId}, the results are plan {merged.PlanId}");
                var missing = merged.Missing(list);
                if (missing.Count > 0) stdout.WriteLine($"warning: {missing.Count} of {list.Items.Count} settings have no results yet (first: {missing[0].Describe()})");
            }
            var outDir = p.GetValue(outOpt)!;
            Directory.CreateDirectory(outDir);
            merged.Write(Path.Combine(outDir, "results.parquet"), cancel);
            PlanReport.Write(Path.Combine(outDir, "report.html"), merged, cancel);
            PlanText.Write(stdout, merged);
            stdout.WriteLine($"wrote results.parquet and report.html under {outDir}");
            return Task.FromResult(0);
        });
        return cmd;
    }
}
