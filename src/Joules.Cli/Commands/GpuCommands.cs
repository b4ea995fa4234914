using System.CommandLine;
using System.Globalization;
using Joules.Calibration.Collectives;
using Joules.Calibration.Measurement;
using Joules.Cuda;
using Joules.Profiles;

namespace Joules.Cli.Commands;

/// <summary>The `joules gpu` command group.</summary>
public static class GpuCommands
{
    public static Command Create()
    {
        var cmd = new Command("gpu", "Query the GPUs on this machine (read-only)");
        var info = new Command("info", "Show each GPU's identity, memory, power, clocks, temperature and energy counter (NVML, read-only)");
        info.SetAction(parseResult => Info(parseResult.InvocationConfiguration.Output, parseResult.InvocationConfiguration.Error));
        cmd.Subcommands.Add(info);
        cmd.Subcommands.Add(AllReduceBenchCommand());
        return cmd;
    }

    /// <summary>Default output of the all-reduce table: beside the GPU's profiles.</summary>
    public const string AllReduceFileName = "allreduce.json";

    private static Command AllReduceBenchCommand()
    {
        var model = new Option<string>("--model", "-m") { Description = "Model whose hidden size sets the message sizes (tokens x hidden x 2 bytes) and whose layers set the all-reduces per iteration (2 x layers + 1)", DefaultValueFactory = _ => "llama-3.1-70b" };
        var ranks = new Option<string?>("--ranks") { Description = "GPU counts to measure, e.g. 2,4,8 (default: every power of two up to the GPUs present, and all of them; 1 on a one-GPU machine)" };
        var tokens = new Option<string?>("--tokens") { Description = "Tokens per message, e.g. 1,64,2048 (default: the token counts of the default calibration grid's iterations, 1 to 16384)" };
        var window = new Option<double>("--window-s") { Description = "Minimum seconds per measured window", DefaultValueFactory = _ => 1.0 };
        var trials = new Option<int>("--trials") { Description = "Measured windows per size", DefaultValueFactory = _ => 3 };
        var noGraph = new Option<bool>("--no-graph") { Description = "Launch every all-reduce from the host instead of replaying CUDA graphs" };
        var outFile = new Option<string?>("--out", "-o") { Description = $"Output file (default calibration/<gpu>/{AllReduceFileName})" };
        var cmd = new Command("allreduce-bench",
            "Measure NCCL bf16 all-reduce time and energy (NVML, read-only, all GPUs summed) per message size and GPU count; writes the table the cost model reads");
        foreach (var o in new Option[] { model, ranks, tokens, window, trials, noGraph, outFile }) cmd.Options.Add(o);
        cmd.SetAction(parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            var card = Catalog.Model(parse.GetValue(model)!);
            var sizes = parse.GetValue(tokens) is { } t ? AllReduceBenchPlan.ParseTokens(t) : AllReduceBenchPlan.GridTokens(CalibrationGrid.Default());
            var options = MeasurementOptions.Quick with { WindowSeconds = parse.GetValue(window), Trials = parse.GetValue(trials) };
            options.Validate();
            CalibrationHardware.RequireDriver();
            var available = Cu.DeviceCount();
            var counts = parse.GetValue(ranks) is { } r ? AllReduceBenchPlan.ParseRankCounts(r, available) : AllReduceBenchPlan.DefaultRankCounts(available);
            var command = "joules " + string.Join(' ', parse.Tokens.Select(x => x.Value));
            var plan = new AllReduceBenchPlan
            {
                Model = card, RankCounts = counts, Tokens = sizes, Options = options, UseGraphs = !parse.GetValue(noGraph),
                ToolVersion = Program.VersionString, Command = command,
            };
            output.WriteLine($"all-reduce bf16 sum over {string.Join(", ", counts)} GPU(s), {sizes.Count} sizes ({sizes[0]}..{sizes[^1]} tokens x {card.Hidden} x 2 bytes), " +
                             $"{plan.CallsPerIteration} calls per iteration ({card.Name}: 2 x {card.Layers} layers + 1), {options.Trials} x >= {options.WindowSeconds.ToString("0.##", CultureInfo.InvariantCulture)} s per size");
            NativeLibraries.Load(NativeLibraries.Nccl);
            output.WriteLine($"NCCL {Nccl.Version()} from {NativeLibraries.LoadedFrom(NativeLibraries.Nccl)} ({NcclSettings.MulticastVariable}={NativeEnvironment.Get(NcclSettings.MulticastVariable)})");
            var table = AllReduceBench.Run(plan, n => AllReduceBench.OpenHardware(plan, n), new SystemMeasurementClock(), output, CancellationToken.None);
            var path = parse.GetValue(outFile) ?? Path.Combine("calibration", CalibrateCommands.GpuDirectory(table.GpuName), AllReduceFileName);
            table.Save(path);
            output.WriteLine($"wrote {path} (NCCL {table.NcclVersion}, GPUs {string.Join(", ", table.GpuUuids)})");
            return 0;
        });
        return cmd;
    }

    private static int Info(TextWriter o, TextWriter err)
    {
        uint count;
        try { count = NvmlDevice.Count(); }
        catch (Exception e) when (e is DllNotFoundException or CudaException)
        {
            err.WriteLine($"no NVIDIA driver available: {e.Message}");
            return 2;
        }
        for (uint i = 0; i < count; i++)
        {
            using var d = new NvmlDevice(i);
            var (total, free, used) = d.Memory();
            o.WriteLine($"GPU {i}: {d.Name}");
            o.WriteLine($"  uuid              {d.Uuid}");
            o.WriteLine($"  driver            {d.DriverVersion} (CUDA {d.CudaVersion})");
            o.WriteLine($"  memory            {total / 1073741824.0:F1} GiB total, {used / 1073741824.0:F1} GiB used, {free / 1073741824.0:F1} GiB free");
            o.WriteLine($"  power             {d.PowerWatts():F1} W now, limit {d.PowerLimitWatts():F0} W");
            o.WriteLine($"  clocks            SM {d.ClockMHz(NvmlClock.Sm)} MHz (max {d.MaxClockMHz(NvmlClock.Sm)}), memory {d.ClockMHz(NvmlClock.Memory)} MHz");
            o.WriteLine($"  temperature       {d.TemperatureC()} C");
            o.WriteLine($"  clock events      {NvmlDevice.DescribeReasons(d.ClockEventReasons())}");
            o.WriteLine($"  energy counter    {d.TotalEnergyMillijoules() / 1000.0:F1} J since driver load");
        }
        if (Cu.IsAvailable(out var why))
        {
            using var ctx = new CudaContext();
            o.WriteLine($"CUDA driver API: {Cu.DriverVersion() / 1000}.{Cu.DriverVersion() % 1000 / 10}, device 0 {ctx.Name} ({ctx.Arch}, {ctx.MultiprocessorCount} SMs)");
            o.WriteLine($"  libcuda   {NativeLibraries.LoadedFrom(NativeLibraries.Cuda)}");
            try { o.WriteLine($"  NVRTC     {Nvrtc.Version()} from {NativeLibraries.LoadedFrom(NativeLibraries.Nvrtc)}"); }
            catch (DllNotFoundException e) { o.WriteLine($"  NVRTC     not found: {e.Message}"); }
            try { o.WriteLine($"  cuBLASLt  {CublasLtGemm.Version()} from {NativeLibraries.LoadedFrom(NativeLibraries.CublasLt)}"); }
            catch (DllNotFoundException e) { o.WriteLine($"  cuBLASLt  not found: {e.Message}"); }
            try { o.WriteLine($"  NCCL      {Nccl.Version()} from {NativeLibraries.LoadedFrom(NativeLibraries.Nccl)} ({NcclSettings.MulticastVariable}={NativeEnvironment.Get(NcclSettings.MulticastVariable)})"); }
            catch (DllNotFoundException e) { o.WriteLine($"  NCCL      not found: {e.Message}"); }
            o.WriteLine(Cudnn.IsAvailable(out var noCudnn)
                ? $"  cuDNN     {Cudnn.Version()} from {NativeLibraries.LoadedFrom(NativeLibraries.Cudnn)} (engine --prefill-attention cudnn)"
                : $"  cuDNN     not found: {noCudnn}");
        }
        else o.WriteLine($"CUDA driver API: unavailable ({why})");
        return 0;
    }
}
