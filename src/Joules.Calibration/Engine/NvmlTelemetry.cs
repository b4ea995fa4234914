using Joules.Cuda;

namespace Joules.Calibration.Engine;

/// <summary>Read-only NVML telemetry of one GPU for the measurement protocol (an <see cref="IGpuTelemetry"/> over <see cref="NvmlDevice"/>).</summary>
public sealed class NvmlTelemetry : IGpuTelemetry, IDisposable
{
    private readonly NvmlDevice _dev;

    /// <summary>Opens GPU <paramref name="index"/> (NVML's index, which matches CUDA's when CUDA_DEVICE_ORDER=PCI_BUS_ID).</summary>
    public NvmlTelemetry(uint index = 0) : this(new NvmlDevice(index)) { }

    /// <summary>Opens the GPU with NVML UUID <paramref name="uuid"/> (see <see cref="CudaContext.Uuid"/>): the card a CUDA ordinal drives, whatever the enumeration orders.</summary>
    public NvmlTelemetry(string uuid) : this(new NvmlDevice(uuid)) { }

    private NvmlTelemetry(NvmlDevice device)
    {
        _dev = device;
        PowerLimitWatts = _dev.PowerLimitWatts();
    }

    /// <summary>Telemetry of every GPU an engine runs on, in rank order, matched by UUID.</summary>
    public static IReadOnlyList<NvmlTelemetry> ForDevices(IEnumerable<CudaContext> contexts)
    {
        var list = new List<NvmlTelemetry>();
        try
        {
            foreach (var c in contexts) list.Add(new NvmlTelemetry(c.Uuid));
        }
        catch
        {
            foreach (var t in list) t.Dispose();
            throw;
        }
        return list;
    }

    public NvmlDevice Device => _dev;
    public string Name => _dev.Name;
    public string Uuid => _dev.Uuid;
    public string DriverVersion => _dev.DriverVersion;
    public string CudaVersion => _dev.CudaVersion;
    public double PowerLimitWatts { get; }
    public ulong TotalEnergyMillijoules() => _dev.TotalEnergyMillijoules();
    public double PowerWatts() => _dev.PowerWatts();
    public uint SmClockMHz() => _dev.ClockMHz(NvmlClock.Sm);
    public uint MemoryClockMHz() => _dev.ClockMHz(NvmlClock.Memory);
    public uint TemperatureC() => _dev.TemperatureC();
    public ulong ClockEventReasons() => _dev.ClockEventReasons();
    public void Dispose() => _dev.Dispose();
}
