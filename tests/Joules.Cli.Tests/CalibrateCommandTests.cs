using System.Runtime.InteropServices;
using Joules.Calibration;
using Joules.Calibration.Engine;
using Joules.Calibration.Measurement;
using Joules.Cli;
using Joules.Cli.Commands;
using Joules.Profiles;
using Joules.Profiles.Measured;
using Xunit;

namespace Joules.Cli.Tests;

/// <summary>A GPU on a virtual clock whose energy counter, like NVML's, moves only every 100 ms.</summary>
internal sealed class CliFakeGpu : IGpuTelemetry, IMeasurementClock, IIterationWorkload, IGpuClockControl
{
    private double _now, _energy, _reported, _watts = 65;
    private IterationComposition? _prepared;
    public List<string> ClockCalls { get; } = [];
    public int Prepares { get; private set; }
    public Action? OnEnqueue { get; set; }

    public string Name => "NVIDIA H100 80GB HBM3";
    public string Uuid { get; init; } = "GPU-cli-fake";
    public string DriverVersion => "570.00";
    public string CudaVersion => "12.8";
    public double PowerLimitWatts => 700;
    public double Now => _now;
    public void Sleep(TimeSpan d, CancellationToken c) { c.ThrowIfCancellationRequested(); Run(d.TotalSeconds, 65); }
    public ulong TotalEnergyMillijoules() => (ulong)(_reported * 1000);
    public double PowerWatts() => _watts;
    public uint SmClockMHz() => 1980;
    public uint MemoryClockMHz() => 2619;
    public uint TemperatureC() => 50;
    public ulong ClockEventReasons() => 0;

    private void Run(double seconds, double watts)
    {
        _watts = watts;
        var end = _now + seconds;
        while (true)
        {
            var next = Math.Floor(_now / 0.1 + 1e-9) * 0.1 + 0.1;
            if (next <= _now) next += 0.1;
            if (next > end) break;
            _energy += watts * (next - _now);
            _now = next;
            _reported = _energy;
        }
        _energy += watts * (end - _now);
        _now = end;
    }

    public bool Fits(IterationComposition c, out string? reason)
    {
        var s = c.Shape;
        reason = s.DecodeContextTokens > 300_000 ? "KV cache needs more than 80 GiB" : null;
        return reason is null;
    }

    public void Prepare(IterationComposition c) { _prepared = c; Prepares++; }

    public void Enqueue(int iterations)
    {
        OnEnqueue?.Invoke();
        var s = _prepared!.Shape;
        var t = Math.Max(0.005, 2.3e-5 * s.TotalTokens) + 4e-8 * s.DecodeContextTokens + 1.5e-10 * s.PrefillAttentionPairs;
        Run(iterations * t, 400 + 250 * Math.Min(1, 2.3e-5 * s.TotalTokens / t));
    }

    public void Synchronize() => _watts = 65;
    public void Dispose() { }
    public void LockSmClocks(uint min, uint max) => ClockCalls.Add($"lock {min}");
    public void ResetSmClocks() => ClockCalls.Add("reset");
}

/// <summary>Two fake GPUs of one host kept busy together on one virtual clock: the hardware of a whole tp=2 instance.</summary>
internal sealed class CliFakeInstance : IMeasurementClock, IIterationWorkload
{
    public CliFakeGpu A { get; } = new() { Uuid = "GPU-cli-a" };
    public CliFakeGpu B { get; } = new() { Uuid = "GPU-cli-b" };
    public double Now => A.Now;
    public void Sleep(TimeSpan d, CancellationToken c) { A.Sleep(d, c); B.Sleep(d, c); }
    public bool Fits(IterationComposition c, out string? reason) => A.Fits(c, out reason);
    public void Prepare(IterationComposition c) { A.Prepare(c); B.Prepare(c); }
    public void Enqueue(int n) { A.Enqueue(n); B.Enqueue(n); }
    public void Synchronize() { A.Synchronize(); B.Synchronize(); }
    public void Dispose() { }
}

public class CalibrateCommandTests(Xunit.Abstractions.ITestOutputHelper log) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("joules-cli-cal-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static (int Code, string Out, string Err) Run(CalibrateEnvironment? env, params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code;
        if (env is null)
        {
            code = Program.Run(args, o, e);
        }
        else
        {
            // The same wiring as Program, with the calibrate command bound to fake hardware.
            var root = new System.CommandLine.RootCommand();
            root.Subcommands.Add(CalibrateCommands.Create(env));
            root.Subcommands.Add(ProfileCommands.Create());
            try
            {
                code = root.Parse(args).Invoke(new System.CommandLine.InvocationConfiguration { Output = o, Error = e, EnableDefaultExceptionHandler = false });
            }
            catch (Exception ex)
            {
                e.WriteLine($"error: {ex.Message}");
                code = ex is OperationCanceledException ? 130 : 1;
            }
        }
        return (code, o.ToString(), e.ToString());
    }

    private static CalibrateEnvironment Fake(CliFakeGpu gpu) =>
        new((_, _, _) => new CalibrationHardware(gpu, gpu, () => gpu), gpu, o => o with { BackgroundSampling = false });

    // An environment whose hardware factory records the engine options each run asks for, then stops the run.
    private static (CalibrateEnvironment Env, List<EngineOptions> Seen) RecordingEngineOptions()
    {
        var seen = new List<EngineOptions>();
        var env = new CalibrateEnvironment((_, _, options) =>
        {
            seen.Add(options);
            throw new CalibrationException("stop after opening");
        }, new CliFakeInstance(), DeviceCount: () => 1);
        return (env, seen);
    }

    [Fact]
    public void TheDecodeKernelReachesTheEngineAndABadNameIsAClearError()
    {
        var (env, seen) = RecordingEngineOptions();
        List<DecodeKernel> Kernels() => [.. seen.Select(o => o.DecodeKernel)];
        var (code, _, err) = Run(env, "calibrate", "--quick", "--out", _dir);
        Assert.Equal(1, code);
        Assert.Contains("stop after opening", err);
        (code, _, err) = Run(env, "calibrate", "--quick", "--decode-kernel", "work-list", "--out", _dir);
        Assert.Contains("stop after opening", err);
        Assert.Equal([new EngineOptions().DecodeKernel, DecodeKernel.WorkList], Kernels());
        (code, _, err) = Run(env, "calibrate", "--quick", "--decode-kernel", "flash", "--out", _dir);
        Assert.NotEqual(0, code);
        Assert.Contains("flash", err);
        Assert.Contains("tensor-core", err);
        Assert.Equal(2, Kernels().Count);
    }

    [Fact]
    public void ThePrefillAttentionReachesTheEngineAndABadNameIsAClearError()
    {
        var (env, seen) = RecordingEngineOptions();
        List<PrefillAttention> Chosen() => [.. seen.Select(o => o.PrefillAttention)];
        var (code, _, err) = Run(env, "calibrate", "--quick", "--out", _dir);
        Assert.Contains("stop after opening", err);
        (code, _, err) = Run(env, "calibrate", "--quick", "--prefill-attention", "cudnn", "--out", _dir);
        Assert.Contains("stop after opening", err);
        // The default is auto (cuDNN where it loads, resolved by the engine); a name picks one.
        Assert.Equal([PrefillAttention.Auto, PrefillAttention.Cudnn], Chosen());
        (code, _, err) = Run(env, "calibrate", "--quick", "--prefill-attention", "flash", "--out", _dir);
        Assert.NotEqual(0, code);
        Assert.Contains("flash", err);
        Assert.Contains("cudnn", err);
        Assert.Equal(2, Chosen().Count);
    }

    [Fact]
    public void GpusMustEqualTpAndTheGpusMustBeThere()
    {
        var (code, _, err) = Run(null, "calibrate", "--model", "llama-3.1-70b", "--tp", "4", "--gpus", "2", "--dry-run");
        Assert.Equal(1, code);
        Assert.Contains("--gpus must equal --tp", err);
        var inst = new CliFakeInstance();
        var env = new CalibrateEnvironment((_, _, _) => throw new InvalidOperationException("must not open"), inst, DeviceCount: () => 1);
        (code, _, err) = Run(env, "calibrate", "--model", "llama-3.1-70b", "--tp", "2", "--gpus", "2", "--out", _dir);
        Assert.Equal(1, code);
        Assert.Contains("--gpus 2 needs 2 GPUs, but this machine has 1", err);
        (code, _, err) = Run(null, "calibrate", "--model", "llama-3.1-70b", "--tp", "2", "--gpus", "2", "--sm-clocks", "1500", "--allow-clock-changes", "--dry-run");
        Assert.Equal(1, code);
        Assert.Contains("--sm-clocks cannot be combined with --gpus", err);
        var (ok, output, _) = Run(null, "calibrate", "--model", "llama-3.1-70b", "--tp", "2", "--gpus", "2", "--quick", "--dry-run");
        Assert.Equal(0, ok);
        Assert.Contains("whole instance on 2 GPU(s), energy summed over them", output);
    }

    [Fact]
    public void AWholeInstanceProfileSaysSoAndListsItsGpus()
    {
        var inst = new CliFakeInstance();
        TensorParallelPlacement? asked = null;
        var env = new CalibrateEnvironment((_, p, _) =>
            {
                asked = p;
                return new CalibrationHardware([inst.A, inst.B], inst) { Provenance = new Dictionary<string, string> { ["nccl.version"] = "2.27.3" } };
            }, inst, o => o with { BackgroundSampling = false }, DeviceCount: () => 2);
        var (code, _, err) = Run(env, "calibrate", "--model", "llama-3.1-70b", "--tp", "2", "--gpus", "2", "--quick", "--points", "decode,idle", "--trials", "1",
            "--window-s", "0.2", "--out", _dir);
        Assert.True(code == 0, err);
        Assert.Equal(new TensorParallelPlacement(2, 2), asked);
        var m = MeasuredProfile.Load(Path.Combine(_dir, CalibrateCommands.ProfileFileName)).Metadata;
        Assert.Equal(2, m.TensorParallel);
        Assert.Equal("instance", m.Extra["tp.mode"]);
        Assert.Equal("GPU-cli-a,GPU-cli-b", m.Extra["gpu.uuids"]);
        Assert.Equal("2.27.3", m.Extra["nccl.version"]);
        Assert.Contains("\"per_gpu\"", File.ReadAllText(Path.Combine(_dir, CalibrateCommands.RawLogFileName)));
    }

    private static MeasuredProfile Synthetic(bool instance, double seconds, double joulesPerGpu) => new(
        new ProfileMetadata
        {
            GpuName = "NVIDIA H200", Model = Catalog.Model("llama-3.1-70b"), TensorParallel = 2, PowerLimitWatts = 700, IdlePowerWatts = 120,
            Extra = new Dictionary<string, string> { ["tp.mode"] = instance ? "instance" : "shard" },
        },
        [
            new ProfilePoint { Phase = ProfilePhase.Decode, BatchSize = 64, NewTokens = 1, ContextTokens = 1024, TpDegree = 2, IterationSeconds = seconds, EnergyJoules = joulesPerGpu, Repeats = 3 },
            new ProfilePoint { Phase = ProfilePhase.Prefill, BatchSize = 1, NewTokens = 2048, ContextTokens = 0, TpDegree = 2, IterationSeconds = seconds * 20, EnergyJoules = joulesPerGpu * 30, Repeats = 3 },
            new ProfilePoint { Phase = ProfilePhase.Idle, TpDegree = 2, IterationSeconds = 1, EnergyJoules = 120, MeanPowerWatts = 120, Repeats = 3 },
        ]);

    [Fact]
    public void CompareTpTabulatesShardTimesNPlusAllReduceAgainstTheInstance()
    {
        var shard = Path.Combine(_dir, "shard.parquet");
        var inst = Path.Combine(_dir, "instance.parquet");
        Synthetic(false, 0.020, 8.0).Save(shard);
        Synthetic(true, 0.022, 9.0).Save(inst);
        var md = Path.Combine(_dir, "table.md");
        var (code, output, err) = Run(null, "calibrate", "compare-tp", "--shard", shard, "--instance", inst, "--out", md);
        Assert.True(code == 0, err);
        Assert.Contains("| decode b=64 ctx=1024 | 20.00 |", output);
        Assert.Contains("| 18.000 |", output);              // instance energy: 9 J per GPU x 2
        Assert.Equal(output, File.ReadAllText(md));
        (code, _, err) = Run(null, "calibrate", "compare-tp", "--shard", inst, "--instance", shard);
        Assert.Equal(1, code);
        Assert.Contains("not a whole-instance profile", err);
    }

    [Fact]
    public void DryRunPrintsTheGridAndEstimateWithoutAGpu()
    {
        var (code, output, err) = Run(null, "calibrate", "--quick", "--dry-run");
        Assert.True(code == 0, err);
        Assert.Contains("quick grid", output);
        Assert.Contains("estimated 0:0", output);
        Assert.Contains("decode b=64 ctx=512", output);
        Assert.Contains(Path.Combine("calibration", "<gpu>", "llama-3.1-8b", CalibrateCommands.ProfileFileName), output);

        var (code2, output2, _) = Run(null, "calibrate", "--dry-run", "--model", "llama-3.1-70b", "--tp", "8", "--points", "decode");
        Assert.Equal(0, code2);
        Assert.DoesNotContain("prefill b=", output2);
        Assert.Contains("tp=8", output2);
    }

    [Fact]
    public void WithoutADriverCalibrateSaysSo()
    {
        // On a machine with a driver this would start a real calibration; that is not a unit test.
        var hasDriver = NativeLibrary.TryLoad("libcuda.so.1", out var h);
        if (hasDriver) NativeLibrary.Free(h);
        if (hasDriver) return;
        var (code, _, err) = Run(null, "calibrate", "--quick", "--out", _dir);
        Assert.NotEqual(0, code);
        Assert.Contains("no CUDA driver found", err);
        Assert.DoesNotContain("bug", err);
    }

    [Fact]
    public void ClockSweepWithoutPermissionIsRefusedWithAReason()
    {
        var (code, _, err) = Run(null, "calibrate", "--dry-run", "--sm-clocks", "1200,1500");
        Assert.NotEqual(0, code);
        Assert.Contains("--allow-clock-changes", err);
        Assert.Contains("every user", err);
    }

    [Fact]
    public void BadOptionsAreClearErrors()
    {
        Assert.Contains("unknown phase", Run(null, "calibrate", "--dry-run", "--points", "prefil").Err);
        Assert.Contains("unknown model", Run(null, "calibrate", "--dry-run", "--model", "gpt-9").Err);
        Assert.Contains("tp=3", Run(null, "calibrate", "--dry-run", "--tp", "3").Err);
        Assert.Contains("trials", Run(null, "calibrate", "--dry-run", "--trials", "0").Err);
    }

    [Fact]
    public void ALogFromAnotherCardResumesOnlyWhenAskedAndTheProfileNamesBothCards()
    {
        var (code, _, err) = Run(Fake(new CliFakeGpu { Uuid = "GPU-first" }), "calibrate", "--quick", "--points", "decode,idle", "--out", _dir);
        Assert.True(code == 0, err);
        // As if the first lease ended two points before the end: drop the last two completed points (and their trials).
        var rawPath = Path.Combine(_dir, "raw.jsonl");
        var lines = File.ReadAllLines(rawPath).ToList();
        var keys = lines.Where(l => l.Contains("\"type\":\"point\"")).Select(l => System.Text.Json.Nodes.JsonNode.Parse(l)!["key"]!.GetValue<string>()).TakeLast(2).ToHashSet();
        File.WriteAllLines(rawPath, lines.Where(l => !keys.Any(k => l.Contains($"\"key\":\"{k}\""))));

        var (refused, _, why) = Run(Fake(new CliFakeGpu { Uuid = "GPU-second" }), "calibrate", "--quick", "--points", "decode,idle", "--out", _dir);
        Assert.Equal(1, refused);
        Assert.Contains("--resume-on-another-card", why);
        var (ok, output, err2) = Run(Fake(new CliFakeGpu { Uuid = "GPU-second" }), "calibrate", "--quick", "--points", "decode,idle", "--out", _dir, "--resume-on-another-card");
        Assert.True(ok == 0, err2);
        Assert.Contains("measured 2 point(s) this run", output);
        Assert.Contains("cards        measured on more than one card of this model: GPU-first:", output);
        Assert.Contains("GPU-second: 2 point(s)", output);
        var profile = MeasuredProfile.Load(Path.Combine(_dir, CalibrateCommands.ProfileFileName));
        Assert.Equal("GPU-first", profile.Metadata.GpuUuid);

        var (whole, _, wholeErr) = Run(null, "calibrate", "--model", "llama-3.1-70b", "--tp", "2", "--gpus", "2", "--resume-on-another-card", "--dry-run");
        Assert.Equal(1, whole);
        Assert.Contains("--resume-on-another-card cannot be combined with --gpus", wholeErr);
    }

    [Fact]
    public void FitToMemoryMeasuresAStandInForThePointThatDoesNotFit()
    {
        // The fake holds 300k decode-context tokens: decode b=256 at 2048 (524k) is measured at 1152 (256 x 1153 = 295k).
        var (code, output, err) = Run(Fake(new CliFakeGpu()), "calibrate", "--quick", "--fit-to-memory", "--out", _dir);
        Assert.True(code == 0, err + output);
        Assert.Contains("measured at the longest decode context that fits, or skipped", output);
        Assert.Contains("measuring decode b=256 ctx=1152 instead", output);
        var profile = MeasuredProfile.Load(Path.Combine(_dir, CalibrateCommands.ProfileFileName));
        Assert.Equal(CalibrationGrid.Quick().Points.Count, profile.Points.Count(p => p.Phase != ProfilePhase.Idle));
        Assert.Contains(profile.Points, p => p.Phase == ProfilePhase.Decode && p.BatchSize == 256 && p.ContextTokens == 1152);
        Assert.Contains("--fit-to-memory", File.ReadAllText(Path.Combine(_dir, "command.txt")));
    }

    [Fact]
    public void CalibrateWritesProfileRawLogAndCommandThenResumes()
    {
        var gpu = new CliFakeGpu();
        var (code, output, err) = Run(Fake(gpu), "calibrate", "--quick", "--out", _dir);
        log.WriteLine(output);
        Assert.True(code == 0, err + output);
        Assert.Contains("skipped", output); // decode 256 x 2048 does not fit the fake's memory
        Assert.Contains("cost model", output);
        var profile = MeasuredProfile.Load(Path.Combine(_dir, CalibrateCommands.ProfileFileName));
        Assert.Equal("llama-3.1-8b", profile.Metadata.Model.Name);
        Assert.Equal(65, profile.IdlePowerWatts, 1.0);
        Assert.Equal(CalibrationGrid.Quick().Points.Count - 1, profile.Points.Count(p => p.Phase != ProfilePhase.Idle));
        Assert.StartsWith("joules calibrate --quick", File.ReadAllText(Path.Combine(_dir, "command.txt")));
        Assert.True(File.ReadAllLines(Path.Combine(_dir, "raw.jsonl")).Length > 40);

        var again = new CliFakeGpu();
        var (code2, output2, _) = Run(Fake(again), "calibrate", "--quick", "--out", _dir);
        Assert.Equal(0, code2);
        Assert.Equal(0, again.Prepares);
        Assert.Contains("resuming", output2);

        var (code3, _, err3) = Run(Fake(new CliFakeGpu()), "calibrate", "--out", _dir);
        Assert.NotEqual(0, code3);
        Assert.Contains("--force", err3);
    }

    [Fact]
    public void InterruptedCalibrationSaysHowToResume()
    {
        var gpu = new CliFakeGpu();
        var calls = 0;
        gpu.OnEnqueue = () => { if (++calls == 40) throw new OperationCanceledException(); };
        var (code, _, err) = Run(Fake(gpu), "calibrate", "--quick", "--points", "decode", "--out", _dir);
        Assert.Equal(130, code);
        Assert.Contains("run the same command again to resume", err);
    }

    [Fact]
    public void ClockSweepLocksAndRestoresThroughTheCommand()
    {
        var gpu = new CliFakeGpu();
        var (code, output, err) = Run(Fake(gpu), "calibrate", "--quick", "--points", "decode,idle", "--sm-clocks", "1200,1500", "--allow-clock-changes", "--out", _dir);
        Assert.True(code == 0, err + output);
        Assert.Equal(["lock 1200", "reset", "lock 1500", "reset"], gpu.ClockCalls);
        Assert.Equal([1200, 1500], MeasuredProfile.Load(Path.Combine(_dir, CalibrateCommands.ProfileFileName)).ClockTargets.Select(c => c!.Value));
    }

    [Fact]
    public void GpuDirectoriesUseCatalogNames()
    {
        Assert.Equal("h100-sxm", CalibrateCommands.GpuDirectory("NVIDIA H100 80GB HBM3"));
        Assert.Equal("nvidia-l40s", CalibrateCommands.GpuDirectory("NVIDIA L40S"));
        Assert.Equal("llama-3.1-70b-tp4", CalibrateCommands.ModelDirectory(Catalog.Model("llama-3.1-70b"), 4));
    }
}
