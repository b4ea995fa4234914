using System.CommandLine;
using System.Globalization;
using System.Runtime.InteropServices;
using Joules.Calibration;
using Joules.Calibration.Engine;
using Joules.Calibration.Measurement;
using Joules.Cuda;
using Joules.Output;
using Joules.Profiles;
using Joules.Profiles.Measured;

namespace Joules.Cli.Commands;

/// <summary>What `joules calibrate` runs against: the hardware factory and the clock (real by default; fakes in tests).</summary>
/// <param name="OpenHardware">Opens the GPU(s) for a model card: one GPU's shard at a tensor-parallel degree, or a whole instance, with the engine settings given.</param>
/// <param name="Clock">Time source of the measurement protocol.</param>
/// <param name="AdjustOptions">Last word on the protocol options (tests turn background sampling off).</param>
/// <param name="DeviceCount">GPUs this machine has (asked only for a whole instance, before anything is opened).</param>
public sealed record CalibrateEnvironment(Func<ModelCard, TensorParallelPlacement, EngineOptions, CalibrationHardware> OpenHardware, IMeasurementClock Clock,
    Func<MeasurementOptions, MeasurementOptions>? AdjustOptions = null, Func<int>? DeviceCount = null)
{
    public static CalibrateEnvironment Real => new((model, placement, options) => CalibrationHardware.Open(model, placement, options), new SystemMeasurementClock(), DeviceCount: () =>
    {
        CalibrationHardware.RequireDriver();
        return Cu.DeviceCount();
    });
}

/// <summary>The `joules calibrate` command group.</summary>
public static class CalibrateCommands
{
    /// <summary>File name of the profile inside the output directory.</summary>
    public const string ProfileFileName = "profile.parquet";

    public const string RawLogFileName = "raw.jsonl";

    public static Command Create(CalibrateEnvironment? environment = null)
    {
        var model = new Option<string>("--model", "-m") { Description = "Model card to calibrate (a shipped name or a model-card JSON file)", DefaultValueFactory = _ => "llama-3.1-8b" };
        var tp = new Option<int>("--tp") { Description = "Tensor-parallel degree: without --gpus, measure one GPU's shard of the model split over this many GPUs (no communication)", DefaultValueFactory = _ => 1 };
        var gpus = EngineCommands.GpusOption();
        var quick = new Option<bool>("--quick") { Description = "Small grid and short windows: about 3 minutes on an H100 with an 8B model (same as --grid quick; with --grid serving, that grid's short windows)" };
        var gridName = new Option<string?>("--grid")
        {
            // The point counts come from the grids themselves, so the help cannot fall behind a grid that grows.
            Description = $"Grid to measure: default ({CalibrationGrid.Default().Points.Count} iteration shapes and idle; on an H200 7.4 minutes for the 8B and 10 minutes for the 70B tp2 shard with --trials 3 --window-s 1, longer with the default windows), " +
                          $"quick ({CalibrationGrid.Quick().Points.Count} shapes and idle, short windows) or serving " +
                          "(quick plus budget-filling mixed iterations of 8192 and 16384 tokens and 8k-32k prefills, short windows: " +
                          "what a serving validation calibrates on the card that serves)",
        };
        gridName.AcceptOnlyFromAmong([.. CalibrationGrid.Names]);
        var outDir = new Option<string?>("--out", "-o") { Description = "Output directory (default calibration/<gpu>/<model>/); an interrupted run in it is resumed" };
        var window = new Option<double?>("--window-s") { Description = "Minimum seconds per measured window (default 2, quick 1.5)" };
        var trials = new Option<int?>("--trials") { Description = "Measured windows per point (default 5, quick 3)" };
        var points = new Option<string>("--points") { Description = "Phases to measure: comma-separated prefill, decode, mixed, idle", DefaultValueFactory = _ => "prefill,decode,mixed,idle" };
        var smClocks = new Option<string?>("--sm-clocks") { Description = "Sweep locked SM clocks, e.g. 1200,1500,1980 (needs --allow-clock-changes; only on a GPU you own)" };
        var allowClocks = new Option<bool>("--allow-clock-changes") { Description = "Allow --sm-clocks to lock the GPU's clocks (restored afterwards, on errors and on Ctrl-C)" };
        var force = new Option<bool>("--force") { Description = "Start over when the output directory holds a log of a different GPU, model or grid" };
        var otherCard = new Option<bool>("--resume-on-another-card")
        {
            Description = "Resume a log recorded on another card of the same GPU model (rented machines land on a different card per lease); " +
                          "each point keeps the UUID of the card that measured it and the profile lists the cards. One-GPU runs only",
        };
        var dryRun = new Option<bool>("--dry-run") { Description = "Print the grid and the time estimate without touching a GPU" };
        var fitToMemory = new Option<bool>("--fit-to-memory")
        {
            Description = "Measure a point that does not fit in device memory with its decodes' context cut to the longest that fits " +
                          "(at least 256 tokens; the grid point is listed as skipped and names its stand-in), instead of only skipping it: " +
                          "for shards with little room beside their weights (70B at tp=2), whose servers run exactly those KV-filling batches",
        };
        var decodeKernel = EngineCommands.DecodeKernelOption();
        var prefillAttention = EngineCommands.PrefillAttentionOption();

        var cmd = new Command("calibrate", "Measure time and energy per iteration on this machine's GPU and write a calibration profile");
        cmd.Subcommands.Add(CompareTp());
        foreach (var o in new Option[] { model, tp, gpus, quick, gridName, outDir, window, trials, points, smClocks, allowClocks, force, otherCard, decodeKernel, prefillAttention, fitToMemory, dryRun }) cmd.Options.Add(o);
        cmd.SetAction(parse =>
        {
            var env = environment ?? CalibrateEnvironment.Real;
            var output = parse.InvocationConfiguration.Output;
            var card = Catalog.Model(parse.GetValue(model)!);
            var degree = parse.GetValue(tp);
            var placement = TensorParallelPlacement.Parse(degree, parse.GetValue(gpus));
            placement.Validate(card); // heads, ffn (and for a whole instance kv heads) divide over tp
            var phases = CalibrationGrid.ParsePhases(parse.GetValue(points)!);
            var clocks = ClockGuard.ParseClocks(parse.GetValue(smClocks));
            if (clocks.Count > 0 && placement.WholeInstance)
                throw new ArgumentException("--sm-clocks cannot be combined with --gpus: clock sweeps lock one GPU's clocks; sweep a shard instead");
            ClockGuard.RequirePermission(clocks, parse.GetValue(allowClocks));
            if (parse.GetValue(otherCard) && placement.WholeInstance)
                throw new ArgumentException("--resume-on-another-card cannot be combined with --gpus: a whole instance is resumed on the same GPUs only");
            var named = parse.GetValue(gridName) ?? (parse.GetValue(quick) ? "quick" : "default");
            if (parse.GetValue(quick) && named != "quick" && named != "serving")
                throw new ArgumentException($"--quick asks for the quick grid, --grid for '{named}': give one of them");
            // The small grids use the short-window protocol; the default grid the full one.
            var isQuick = named != "default";
            var options = isQuick ? MeasurementOptions.Quick : MeasurementOptions.Default;
            if (parse.GetValue(window) is { } w) options = options with { WindowSeconds = w };
            if (parse.GetValue(trials) is { } n) options = options with { Trials = n };
            options.Validate();
            if (env.AdjustOptions is { } adjust) options = adjust(options);
            var grid = CalibrationGrid.Named(named, phases);
            var estimate = grid.EstimateDuration(options, Math.Max(1, clocks.Count));

            output.WriteLine($"calibrating {(placement.WholeInstance ? placement.Describe(card) + ", energy summed over them" : card.Name + (degree > 1 ? $" (one GPU's shard at tp={degree})" : ""))} on the {grid.Name} grid: " +
                             $"{grid.Count(Phase.Prefill)} prefill, {grid.Count(Phase.Decode)} decode, {grid.Count(Phase.Mixed)} mixed points + idle" +
                             (clocks.Count > 0 ? $", at SM clocks {string.Join(", ", clocks)} MHz" : ""));
            output.WriteLine($"protocol: {options.Trials} trials x >= {options.WindowSeconds.ToString("0.##", CultureInfo.InvariantCulture)} s windows, " +
                             $"{options.WarmupSeconds.ToString("0.##", CultureInfo.InvariantCulture)} s warm-up, {options.SettleSeconds.ToString("0.##", CultureInfo.InvariantCulture)} s settle; " +
                             $"estimated {estimate:h\\:mm\\:ss} {(parse.GetValue(fitToMemory) ? "(points that do not fit in memory are measured at the longest decode context that fits, or skipped)" : "(points that do not fit in memory are skipped)")}");
            if (parse.GetValue(dryRun))
            {
                foreach (var p in grid.Points) output.WriteLine($"  {p}");
                output.WriteLine($"would write {Path.Combine(parse.GetValue(outDir) ?? Path.Combine("calibration", "<gpu>", ModelDirectory(card, degree)), ProfileFileName)}");
                return 0;
            }

            if (placement.WholeInstance) placement.RequireDevices((env.DeviceCount ?? (() => placement.GpuCount)).Invoke());
            // The engine's settings are in the raw log's engine fingerprint, so a log is only resumed by the kernels that began it.
            using var hardware = env.OpenHardware(card, placement, new EngineOptions
            {
                DecodeKernel = DecodeKernels.Parse(parse.GetValue(decodeKernel)!),
                PrefillAttention = PrefillAttentions.Parse(parse.GetValue(prefillAttention)!),
            });
            if (hardware.Workload is IEngineInstance { CudnnFallback: { } why })
                output.WriteLine($"note: cuDNN loads but cannot run this model's prefill attention here ({why}); Joules' kernel runs it, and the profile says so");
            var dir = parse.GetValue(outDir) ?? Path.Combine("calibration", GpuDirectory(hardware.Telemetry.Name), ModelDirectory(card, degree));
            Directory.CreateDirectory(dir);
            var command = "joules " + string.Join(' ', parse.Tokens.Select(t => t.Value.Contains(' ') ? $"\"{t.Value}\"" : t.Value));
            var plan = new CalibrationPlan
            {
                Model = card,
                Tp = degree,
                WholeInstance = placement.WholeInstance,
                ExtraMetadata = hardware.Provenance,
                Grid = grid,
                SmClocks = clocks,
                IncludeIdle = true,
                FitToMemory = parse.GetValue(fitToMemory),
                ToolVersion = Program.VersionString,
                Command = command,
                CreatedUtc = DateTimeOffset.UtcNow,
            };

            using var cancel = new CancellationTokenSource();
            // Ctrl-C and SIGTERM cancel between windows instead of killing the process, so locked clocks are
            // restored by the runner's finally blocks and the raw log ends on a complete record.
            var stopping = 0;
            void Stop(PosixSignalContext ctx)
            {
                ctx.Cancel = true;
                if (Interlocked.Exchange(ref stopping, 1) == 0)
                    parse.InvocationConfiguration.Error.WriteLine("stopping after the current window" + (clocks.Count > 0 ? " (clocks will be restored)" : "") + "...");
                cancel.Cancel();
            }
            using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
            using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);

            var runner = new CalibrationRunner(hardware.Gpus, hardware.Workload, env.Clock, options, output);
            CalibrationResult result;
            try
            {
                result = runner.Run(plan, Path.Combine(dir, RawLogFileName), parse.GetValue(force), clocks.Count > 0 ? hardware.ClockControl() : null, cancel.Token,
                    parse.GetValue(otherCard));
            }
            catch (OperationCanceledException e)
            {
                throw new OperationCanceledException($"calibration interrupted; completed points are kept in {Path.Combine(dir, RawLogFileName)}: run the same command again to resume", e);
            }
            var profilePath = Path.Combine(dir, ProfileFileName);
            result.Profile.Save(profilePath);
            AtomicFile.WriteAllText(Path.Combine(dir, "command.txt"), command + "\n");

            output.WriteLine();
            if (result.Skipped.Count > 0)
            {
                output.WriteLine($"skipped {result.Skipped.Count} point(s):");
                foreach (var (p, c, reason) in result.Skipped) output.WriteLine($"  {p}{(c is { } mhz ? $" @{mhz} MHz" : "")}: {reason}");
            }
            output.WriteLine($"measured {result.Measured} point(s) this run, {result.Resumed} resumed; wrote {profilePath}");
            if (result.Profile.Points.Any(p => p.Phase != ProfilePhase.Idle))
            {
                output.WriteLine();
                ProfileCommands.Print(ProfileSummary.Create(result.Profile, profilePath, clocks.Count > 0 ? (int)clocks[0] : null), output);
            }
            return 0;
        });
        return cmd;
    }

    private static Command CompareTp()
    {
        var shard = new Option<string>("--shard") { Description = "Profile of one GPU's shard (calibrate --tp N)", Required = true };
        var instance = new Option<string>("--instance") { Description = "Profile of the whole instance (calibrate --tp N --gpus N)", Required = true };
        var allReduce = new Option<string?>("--allreduce") { Description = "All-reduce table (gpu allreduce-bench) for a column with the measured all-reduce in place of the modelled one" };
        var outFile = new Option<string?>("--out", "-o") { Description = "Also write the markdown table to this file" };
        var cmd = new Command("compare-tp", "Compare a shard profile x N plus all-reduce with the measured whole tensor-parallel instance, per grid point, time and energy (markdown)");
        foreach (var o in new Option[] { shard, instance, allReduce, outFile }) cmd.Options.Add(o);
        cmd.SetAction(parse =>
        {
            var (sp, ip, ap) = (parse.GetValue(shard)!, parse.GetValue(instance)!, parse.GetValue(allReduce));
            var rows = TensorParallelComparison.Compare(MeasuredProfile.Load(sp), MeasuredProfile.Load(ip), ap is null ? null : AllReduceProfile.Load(ap));
            if (rows.Count == 0) throw new ArgumentException($"{sp} and {ip} have no grid point in common");
            var md = TensorParallelComparison.Markdown(rows, sp, ip, ap);
            parse.InvocationConfiguration.Output.Write(md);
            if (parse.GetValue(outFile) is { } path) Joules.Output.AtomicFile.WriteAllText(path, md);
            return 0;
        });
        return cmd;
    }

    /// <summary>Directory name for a GPU: its catalog name when known (h100-sxm), else its NVML name made path-safe.</summary>
    public static string GpuDirectory(string nvmlName)
    {
        try
        {
            return Catalog.Gpu(nvmlName).Name;
        }
        catch (KeyNotFoundException)
        {
            var chars = nvmlName.ToLowerInvariant().Select(c => char.IsAsciiLetterOrDigit(c) ? c : '-').ToArray();
            var slug = string.Join('-', new string(chars).Split('-', StringSplitOptions.RemoveEmptyEntries));
            return slug.Length > 0 ? slug : "gpu";
        }
    }

    public static string ModelDirectory(ModelCard model, int tp) => tp > 1 ? $"{model.Name}-tp{tp}" : model.Name;
}
