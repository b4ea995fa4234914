using System.Globalization;

namespace Joules.Parquet.Bench;

/// <summary>The process's resident memory from /proc (Linux): current, peak, and a way to restart the peak at the current value.</summary>
public static class Memory
{
    public static long ResidentBytes => Status("VmRSS:");
    public static long PeakResidentBytes => Status("VmHWM:");

    /// <summary>Restarts the peak (VmHWM) at the current resident size; false where the kernel does not allow it.</summary>
    public static bool ResetPeak()
    {
        try
        {
            File.WriteAllText("/proc/self/clear_refs", "5");
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>Collects and decommits as much as the GC can, so the resident size is what live objects and the runtime need.</summary>
    public static void Settle()
    {
        GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
    }

    private static long Status(string key)
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
        {
            if (!line.StartsWith(key, StringComparison.Ordinal)) continue;
            var parts = line[key.Length..].Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries);
            return long.Parse(parts[0], CultureInfo.InvariantCulture) * 1024;
        }
        throw new InvalidOperationException($"/proc/self/status has no {key} line (the benchmark needs Linux)");
    }
}
