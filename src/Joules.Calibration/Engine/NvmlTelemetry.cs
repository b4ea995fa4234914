using Joules.Cuda;

namespace Joules.Calibration.Engine;

/// <summary>Read-only NVML telemetry of one GPU for the measurement protocol (an <see cref="IGpuTelemetry"/> over <see cref="NvmlDevice"/>).</summary>
public sealed class NvmlTelemetry : IGpuTelemetry, IDisposable
{
    private readonly NvmlDevice _dev;

    /// <summary>Opens GPU <paramref name="index"/> (NVML's index, which matches CUDA's when CUDA_DEVICE_ORDER=PCI_BUS_ID).</summary>
    public NvmlTelemetry(uint index = 0)
    {
        _dev = new NvmlDevice(index);
        PowerLimitWatts = _dev.PowerLimitWatts();
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
