using System.CommandLine;
using Joules.Cuda;

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
        }
        else o.WriteLine($"CUDA driver API: unavailable ({why})");
        return 0;
    }
}
