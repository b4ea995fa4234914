using System.Runtime.InteropServices;

namespace Joules.Cuda;

/// <summary>Raw NVML entry points: read-only queries only (no nvmlDeviceSet* is bound, by design).</summary>
public static unsafe class NvmlNative
{
    private const string L = NativeLibraries.Nvml;
    [DllImport(L)] public static extern int nvmlInit_v2();
    [DllImport(L)] public static extern int nvmlShutdown();
    [DllImport(L)] public static extern byte* nvmlErrorString(int result);
    [DllImport(L)] public static extern int nvmlSystemGetDriverVersion(byte* version, uint length);
    [DllImport(L)] public static extern int nvmlSystemGetCudaDriverVersion_v2(int* version);
    [DllImport(L)] public static extern int nvmlDeviceGetCount_v2(uint* count);
    [DllImport(L)] public static extern int nvmlDeviceGetHandleByIndex_v2(uint index, nint* device);
    [DllImport(L)] public static extern int nvmlDeviceGetHandleByUUID(byte* uuid, nint* device);
    [DllImport(L)] public static extern int nvmlDeviceGetName(nint device, byte* name, uint length);
    [DllImport(L)] public static extern int nvmlDeviceGetUUID(nint device, byte* uuid, uint length);
    [DllImport(L)] public static extern int nvmlDeviceGetMemoryInfo(nint device, MemoryInfo* memory);
    [DllImport(L)] public static extern int nvmlDeviceGetTotalEnergyConsumption(nint device, ulong* energyMj);
    [DllImport(L)] public static extern int nvmlDeviceGetPowerUsage(nint device, uint* milliwatts);
    [DllImport(L)] public static extern int nvmlDeviceGetEnforcedPowerLimit(nint device, uint* milliwatts);
    [DllImport(L)] public static extern int nvmlDeviceGetClockInfo(nint device, int type, uint* mhz);
    [DllImport(L)] public static extern int nvmlDeviceGetMaxClockInfo(nint device, int type, uint* mhz);
    [DllImport(L)] public static extern int nvmlDeviceGetTemperature(nint device, int sensor, uint* celsius);
    [DllImport(L)] public static extern int nvmlDeviceGetCurrentClocksEventReasons(nint device, ulong* reasons);
    [DllImport(L)] public static extern int nvmlDeviceGetCurrentClocksThrottleReasons(nint device, ulong* reasons);

    /// <summary>nvmlMemory_t.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct MemoryInfo { public ulong Total, Free, Used; }
}

/// <summary>Checks NVML results and turns failures into <see cref="CudaException"/>s with nvmlErrorString text.</summary>
public static unsafe class NvmlStatus
{
    public static void Check(int r, string function)
    {
        if (r == 0) return;
        string s;
        try { s = Marshal.PtrToStringUTF8((nint)NvmlNative.nvmlErrorString(r)) ?? $"NVML error {r}"; }
        catch (EntryPointNotFoundException) { s = $"NVML error {r}"; }
        throw new CudaException("NVML", function, r, s);
    }
}

/// <summary>NVML clock domains (nvmlClockType_t).</summary>
public enum NvmlClock { Graphics = 0, Sm = 1, Memory = 2, Video = 3 }

/// <summary>One GPU seen through NVML, read-only: identity, memory, power, energy counter, clocks, temperature and clock-event reasons.</summary>
public sealed unsafe class NvmlDevice : IDisposable
{
    private readonly nint _dev;
    private bool _disposed;
    private bool? _newReasonsApi;

    public NvmlDevice(uint index = 0)
    {
        NvmlStatus.Check(NvmlNative.nvmlInit_v2(), "nvmlInit");
        nint d;
        NvmlStatus.Check(NvmlNative.nvmlDeviceGetHandleByIndex_v2(index, &d), "nvmlDeviceGetHandleByIndex");
        _dev = d;
        Index = index;
        (Name, Uuid, DriverVersion, CudaVersion) = Identity(d);
    }

    /// <summary>Opens the GPU whose UUID is <paramref name="uuid"/> (as <see cref="CudaContext.Uuid"/> gives it), so NVML reads the card a CUDA ordinal drives.</summary>
    public NvmlDevice(string uuid)
    {
        NvmlStatus.Check(NvmlNative.nvmlInit_v2(), "nvmlInit");
        nint d;
        var bytes = System.Text.Encoding.ASCII.GetBytes(uuid + "\0");
        fixed (byte* p = bytes) NvmlStatus.Check(NvmlNative.nvmlDeviceGetHandleByUUID(p, &d), $"nvmlDeviceGetHandleByUUID({uuid})");
        _dev = d;
        Index = uint.MaxValue;
        (Name, Uuid, DriverVersion, CudaVersion) = Identity(d);
    }

    private static (string Name, string Uuid, string Driver, string Cuda) Identity(nint d)
    {
        string name, uuid, driver;
        var buf = stackalloc byte[256];
        NvmlStatus.Check(NvmlNative.nvmlDeviceGetName(d, buf, 256), "nvmlDeviceGetName");
        name = Marshal.PtrToStringUTF8((nint)buf) ?? "?";
        NvmlStatus.Check(NvmlNative.nvmlDeviceGetUUID(d, buf, 256), "nvmlDeviceGetUUID");
        uuid = Marshal.PtrToStringUTF8((nint)buf) ?? "?";
        NvmlStatus.Check(NvmlNative.nvmlSystemGetDriverVersion(buf, 256), "nvmlSystemGetDriverVersion");
        driver = Marshal.PtrToStringUTF8((nint)buf) ?? "?";
        int cv;
        NvmlStatus.Check(NvmlNative.nvmlSystemGetCudaDriverVersion_v2(&cv), "nvmlSystemGetCudaDriverVersion");
        return (name, uuid, driver, $"{cv / 1000}.{cv % 1000 / 10}");
    }

    /// <summary>Number of GPUs NVML sees.</summary>
    public static uint Count()
    {
        NvmlStatus.Check(NvmlNative.nvmlInit_v2(), "nvmlInit");
        uint n;
        NvmlStatus.Check(NvmlNative.nvmlDeviceGetCount_v2(&n), "nvmlDeviceGetCount");
        return n;
    }

    public uint Index { get; }
    public string Name { get; }
    public string Uuid { get; }
    public string DriverVersion { get; }
    /// <summary>CUDA version the driver supports, e.g. "13.0".</summary>
    public string CudaVersion { get; }

    public (ulong Total, ulong Free, ulong Used) Memory()
    {
        NvmlNative.MemoryInfo m;
        NvmlStatus.Check(NvmlNative.nvmlDeviceGetMemoryInfo(_dev, &m), "nvmlDeviceGetMemoryInfo");
        return (m.Total, m.Free, m.Used);
    }

    /// <summary>Energy consumed since the driver loaded, millijoules.</summary>
    public ulong TotalEnergyMillijoules()
    {
        ulong e;
        NvmlStatus.Check(NvmlNative.nvmlDeviceGetTotalEnergyConsumption(_dev, &e), "nvmlDeviceGetTotalEnergyConsumption");
        return e;
    }

    public double PowerWatts()
    {
        uint mw;
        NvmlStatus.Check(NvmlNative.nvmlDeviceGetPowerUsage(_dev, &mw), "nvmlDeviceGetPowerUsage");
        return mw / 1000.0;
    }

    public double PowerLimitWatts()
    {
        uint mw;
        NvmlStatus.Check(NvmlNative.nvmlDeviceGetEnforcedPowerLimit(_dev, &mw), "nvmlDeviceGetEnforcedPowerLimit");
        return mw / 1000.0;
    }

    public uint ClockMHz(NvmlClock clock)
    {
        uint v;
        NvmlStatus.Check(NvmlNative.nvmlDeviceGetClockInfo(_dev, (int)clock, &v), "nvmlDeviceGetClockInfo");
        return v;
    }

    public uint MaxClockMHz(NvmlClock clock)
    {
        uint v;
        NvmlStatus.Check(NvmlNative.nvmlDeviceGetMaxClockInfo(_dev, (int)clock, &v), "nvmlDeviceGetMaxClockInfo");
        return v;
    }

    public uint TemperatureC()
    {
        uint v;
        NvmlStatus.Check(NvmlNative.nvmlDeviceGetTemperature(_dev, 0 /* NVML_TEMPERATURE_GPU */, &v), "nvmlDeviceGetTemperature");
        return v;
    }

    /// <summary>Clock-event (throttle) reason bits; uses the newer API name and falls back to the pre-12.x one.</summary>
    public ulong ClockEventReasons()
    {
        ulong r;
        if (_newReasonsApi != false)
        {
            try
            {
                NvmlStatus.Check(NvmlNative.nvmlDeviceGetCurrentClocksEventReasons(_dev, &r), "nvmlDeviceGetCurrentClocksEventReasons");
                _newReasonsApi = true;
                return r;
            }
            catch (EntryPointNotFoundException) { _newReasonsApi = false; }
        }
        NvmlStatus.Check(NvmlNative.nvmlDeviceGetCurrentClocksThrottleReasons(_dev, &r), "nvmlDeviceGetCurrentClocksThrottleReasons");
        return r;
    }

    /// <summary>Names of the set clock-event reason bits (nvml.h's nvmlClocksEventReason* constants).</summary>
    public static string DescribeReasons(ulong bits)
    {
        if (bits == 0) return "none";
        var names = new List<string>();
        (ulong Bit, string Name)[] table =
        [
            (0x1, "gpu_idle"), (0x2, "applications_clocks"), (0x4, "sw_power_cap"), (0x8, "hw_slowdown"),
            (0x10, "sync_boost"), (0x20, "sw_thermal"), (0x40, "hw_thermal"), (0x80, "hw_power_brake"), (0x100, "display_clocks"),
        ];
        foreach (var (bit, name) in table) if ((bits & bit) != 0) names.Add(name);
        var known = table.Aggregate(0UL, (a, t) => a | t.Bit);
        if ((bits & ~known) != 0) names.Add($"0x{bits & ~known:x}");
        return string.Join(",", names);
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        NvmlNative.nvmlShutdown();
    }
}
