using System.Diagnostics;

namespace Joules.Calibration.Measurement;

/// <summary>The time source of the measurement protocol; injectable so tests run on a virtual clock instead of sleeping.</summary>
public interface IMeasurementClock
{
    /// <summary>Monotonic seconds since an arbitrary origin.</summary>
    double Now { get; }

    /// <summary>Waits <paramref name="duration"/>; throws <see cref="OperationCanceledException"/> when cancelled.</summary>
    void Sleep(TimeSpan duration, CancellationToken cancel);
}

/// <summary>The real clock: a monotonic stopwatch and a cancellable wait.</summary>
public sealed class SystemMeasurementClock : IMeasurementClock
{
    private readonly long _origin = Stopwatch.GetTimestamp();

    public double Now => Stopwatch.GetElapsedTime(_origin).TotalSeconds;

    public void Sleep(TimeSpan duration, CancellationToken cancel)
    {
        if (duration > TimeSpan.Zero) cancel.WaitHandle.WaitOne(duration);
        cancel.ThrowIfCancellationRequested();
    }
}

/// <summary>Arithmetic on NVML's cumulative energy counter.</summary>
public static class EnergyCounter
{
    /// <summary>Millijoules between two readings of the 64-bit counter, correct across a wrap (modular subtraction).</summary>
    public static ulong DeltaMillijoules(ulong before, ulong after) => unchecked(after - before);
}
