using System.Runtime.InteropServices;
using Joules.Calibration.Engine;
using Joules.Profiles;

namespace Joules.Calibration.Measurement;

/// <summary>The real GPU(s) a calibration runs on: NVML telemetry, the transformer engine as a workload, and (only when asked for) clock control.</summary>
public sealed class CalibrationHardware : IDisposable
{
    public CalibrationHardware(IGpuTelemetry telemetry, IIterationWorkload workload, Func<IGpuClockControl>? clockControl = null, IDisposable? owner = null)
        : this([telemetry], workload, clockControl, owner) { }

    /// <summary>Hardware of a whole tensor-parallel instance: every GPU's telemetry in rank order.</summary>
    public CalibrationHardware(IReadOnlyList<IGpuTelemetry> gpus, IIterationWorkload workload, Func<IGpuClockControl>? clockControl = null, IDisposable? owner = null)
    {
        if (gpus.Count == 0) throw new ArgumentException("calibration hardware needs at least one GPU");
        Gpus = gpus;
        Workload = workload;
        _clockControl = clockControl;
        _owner = owner;
    }

    private readonly Func<IGpuClockControl>? _clockControl;
    private readonly IDisposable? _owner;

    /// <summary>The first (or only) GPU.</summary>
    public IGpuTelemetry Telemetry => Gpus[0];
    /// <summary>Every GPU measured together, rank order.</summary>
    public IReadOnlyList<IGpuTelemetry> Gpus { get; }
    public IIterationWorkload Workload { get; }
    /// <summary>Provenance of the workload worth keeping in the profile (e.g. the NCCL version).</summary>
    public IReadOnlyDictionary<string, string> Provenance { get; init; } = new Dictionary<string, string>();

    /// <summary>Clock control, created only when a sweep asks for it (so no setter is ever reachable otherwise).</summary>
    public IGpuClockControl ClockControl() =>
        (_clockControl ?? throw new CalibrationException("this build cannot change GPU clocks")).Invoke();

    /// <summary>Opens GPU 0 for calibration of <paramref name="model"/> at tensor-parallel degree <paramref name="tp"/> with the engine settings <paramref name="options"/> (default: the engine's defaults); a clear error when there is no CUDA driver.</summary>
    public static CalibrationHardware Open(ModelCard model, int tp, EngineOptions? options = null)
    {
        RequireDriver();
        var telemetry = new NvmlTelemetry(0);
        try
        {
            var engine = new TransformerEngine(model, tp, (options ?? new EngineOptions()) with { Device = 0 });
            var uuid = telemetry.Uuid;
            return new CalibrationHardware(telemetry, engine, () => new NvmlClockControl(uuid), owner: telemetry) { Provenance = engine.Options.Provenance() };
        }
        catch
        {
            // The engine owns the GPU memory; without it the telemetry handle would leak NVML's init count.
            telemetry.Dispose();
            throw;
        }
    }

    /// <summary>Opens the GPUs of <paramref name="placement"/>: GPU 0 for a shard (exactly as <see cref="Open(ModelCard, int, EngineOptions?)"/>), or GPUs 0..tp-1 for a whole instance.</summary>
    public static CalibrationHardware Open(ModelCard model, TensorParallelPlacement placement, EngineOptions? options = null)
    {
        if (!placement.WholeInstance) return Open(model, placement.Tp, options);
        RequireDriver();
        placement.RequireDevices(Joules.Cuda.Cu.DeviceCount());
        var engine = new TensorParallelEngine(model, placement.Tp, placement.Devices, options);
        IReadOnlyList<NvmlTelemetry> telemetry;
        try { telemetry = NvmlTelemetry.ForDevices(engine.Devices.Select(d => d.Context)); }
        catch
        {
            engine.Dispose();
            throw;
        }
        return new CalibrationHardware(telemetry.ToArray<IGpuTelemetry>(), engine, clockControl: null, owner: new DisposeAll(telemetry))
        {
            Provenance = new Dictionary<string, string>(engine.Options.Provenance()) { ["nccl.version"] = engine.NcclVersion },
        };
    }

    private sealed class DisposeAll(IEnumerable<IDisposable> items) : IDisposable
    {
        public void Dispose()
        {
            foreach (var i in items) i.Dispose();
        }
    }

    /// <summary>Throws a <see cref="CalibrationException"/> unless the CUDA driver and NVML libraries can be loaded.</summary>
    public static void RequireDriver()
    {
        var missing = new List<string>();
        if (!CanLoad(OperatingSystem.IsWindows() ? ["nvcuda.dll"] : ["libcuda.so.1", "libcuda.so"])) missing.Add("the CUDA driver (libcuda)");
        if (!CanLoad(OperatingSystem.IsWindows() ? ["nvml.dll"] : ["libnvidia-ml.so.1", "libnvidia-ml.so"])) missing.Add("NVML (libnvidia-ml)");
        if (missing.Count > 0)
            throw new CalibrationException(
                $"no CUDA driver found: could not load {string.Join(" or ", missing)}. Calibration measures a real NVIDIA GPU; " +
                "run it on a machine with the NVIDIA driver installed (`joules calibrate --dry-run` shows the grid without one)");
    }

    private static bool CanLoad(string[] names)
    {
        foreach (var n in names)
        {
            if (NativeLibrary.TryLoad(n, out var h))
            {
                NativeLibrary.Free(h);
                return true;
            }
        }
        return false;
    }

    public void Dispose()
    {
        Workload.Dispose();
        _owner?.Dispose();
    }
}

/// <summary>NVML clock locking for users who opted in with --allow-clock-changes: the only NVML setters in Joules, kept apart from the read-only bindings.</summary>
/// <remarks>Needs root (or the driver's permission for non-root clock changes). Never used on a shared machine.</remarks>
public sealed partial class NvmlClockControl : IGpuClockControl
{
    private const string Lib = "libnvidia-ml.so.1";
    private readonly IntPtr _device;

    /// <summary>Attaches to the GPU with the given NVML UUID (the one the telemetry reports, so the engine and the clocks are on the same card).</summary>
    public NvmlClockControl(string uuid)
    {
        Check(NvmlInit(), "nvmlInit_v2");
        Check(GetHandleByUuid(uuid, out _device), "nvmlDeviceGetHandleByUUID");
    }

    public void LockSmClocks(uint minMHz, uint maxMHz) => Check(SetGpuLockedClocks(_device, minMHz, maxMHz), "nvmlDeviceSetGpuLockedClocks");

    public void ResetSmClocks() => Check(ResetGpuLockedClocks(_device), "nvmlDeviceResetGpuLockedClocks");

    private static void Check(int rc, string function)
    {
        if (rc == 0) return;
        var text = Marshal.PtrToStringAnsi(ErrorString(rc)) ?? $"error {rc}";
        throw new CalibrationException($"{function} failed: {text} (clock changes need root or `nvidia-smi -acp UNRESTRICTED`)");
    }

    [LibraryImport(Lib, EntryPoint = "nvmlInit_v2")] private static partial int NvmlInit();
    [LibraryImport(Lib, EntryPoint = "nvmlDeviceGetHandleByUUID", StringMarshalling = StringMarshalling.Utf8)] private static partial int GetHandleByUuid(string uuid, out IntPtr device);
    [LibraryImport(Lib, EntryPoint = "nvmlDeviceSetGpuLockedClocks")] private static partial int SetGpuLockedClocks(IntPtr device, uint min, uint max);
    [LibraryImport(Lib, EntryPoint = "nvmlDeviceResetGpuLockedClocks")] private static partial int ResetGpuLockedClocks(IntPtr device);
    [LibraryImport(Lib, EntryPoint = "nvmlErrorString")] private static partial IntPtr ErrorString(int result);
}
