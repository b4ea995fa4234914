using Joules.Calibration.Measurement;
using Joules.Profiles;

namespace Joules.Calibration.Tests;

/// <summary>A simulated GPU on a virtual clock: power integrates into an energy counter that, like NVML's, only updates every 100 ms.</summary>
public sealed class FakeGpu : IGpuTelemetry, IMeasurementClock
{
    private readonly object _gate = new();
    private double _now;
    private double _energyJ;
    private double _reportedJ;
    private double _watts;

    public FakeGpu(double idleWatts = 70, ulong counterStartMillijoules = 123_456_789, double updatePeriod = 0.1, double phase = 0.037)
    {
        IdleWatts = idleWatts;
        CounterStart = counterStartMillijoules;
        UpdatePeriod = updatePeriod;
        Phase = phase;
        _watts = idleWatts;
    }

    public double IdleWatts { get; }
    public ulong CounterStart { get; }
    public double UpdatePeriod { get; }
    public double Phase { get; }
    /// <summary>Clock-event reasons reported while busy.</summary>
    public ulong BusyReasons { get; set; }
    public uint BusySmClock { get; set; } = 1980;

    public string Name => "NVIDIA H100 80GB HBM3";
    public string Uuid { get; set; } = "GPU-fake-0000";
    public string DriverVersion => "570.00";
    public string CudaVersion => "12.8";
    public double PowerLimitWatts => 700;

    /// <summary>True energy consumed so far (what a perfect meter would say).</summary>
    public double TrueEnergyJoules { get { lock (_gate) return _energyJ; } }

    public double Now { get { lock (_gate) return _now; } }

    public void Sleep(TimeSpan duration, CancellationToken cancel)
    {
        cancel.ThrowIfCancellationRequested();
        Run(duration.TotalSeconds, IdleWatts);
    }

    /// <summary>Advances virtual time by <paramref name="seconds"/> at <paramref name="watts"/>, updating the reported counter at each 100 ms boundary.</summary>
    public void Run(double seconds, double watts)
    {
        lock (_gate)
        {
            _watts = watts;
            var end = _now + seconds;
            while (true)
            {
                var next = (Math.Floor((_now - Phase) / UpdatePeriod) + 1) * UpdatePeriod + Phase;
                // Rounding can put "next" back on the boundary just crossed; step past it.
                if (next <= _now) next += UpdatePeriod;
                if (next > end) break;
                _energyJ += watts * (next - _now);
                _now = next;
                _reportedJ = _energyJ;
            }
            _energyJ += watts * (end - _now);
            _now = end;
        }
    }

    public void GoIdle()
    {
        lock (_gate) _watts = IdleWatts;
    }

    public ulong TotalEnergyMillijoules()
    {
        lock (_gate) return unchecked(CounterStart + (ulong)Math.Round(_reportedJ * 1000));
    }

    public double PowerWatts() { lock (_gate) return _watts; }
    public uint SmClockMHz() { lock (_gate) return _watts > IdleWatts ? BusySmClock : 345u; }
    public uint MemoryClockMHz() => 2619;
    public uint TemperatureC() { lock (_gate) return _watts > IdleWatts ? 61u : 35u; }
    public ulong ClockEventReasons() { lock (_gate) return _watts > IdleWatts ? BusyReasons : 1UL; }
}

/// <summary>A workload whose Enqueue runs the fake GPU for the iterations' simulated time at the composition's power.</summary>
public sealed class FakeWorkload(FakeGpu gpu, Func<IterationShape, (double Seconds, double Watts)> law) : IIterationWorkload
{
    private IterationComposition? _prepared;
    private readonly Random _rng = new(42);

    /// <summary>Relative jitter of each iteration's time (uniform ±).</summary>
    public double Jitter { get; set; }
    /// <summary>Compositions above this many tokens (prefill tokens + decode context) do not fit.</summary>
    public long MemoryTokens { get; set; } = long.MaxValue;
    public List<IterationComposition> Prepared { get; } = [];
    /// <summary>Called on each Enqueue; tests use it to throw or cancel part-way through a run.</summary>
    public Action<IterationComposition>? OnEnqueue { get; set; }
    public long Iterations { get; private set; }
    public bool Disposed { get; private set; }

    public bool Fits(IterationComposition composition, out string? reason)
    {
        var s = composition.Shape;
        var tokens = s.PrefillTokens + s.PrefillContextTokens + s.DecodeContextTokens;
        reason = tokens > MemoryTokens ? $"needs {tokens} KV tokens, {MemoryTokens} fit" : null;
        return reason is null;
    }

    public void Prepare(IterationComposition composition)
    {
        _prepared = composition;
        Prepared.Add(composition);
    }

    public void Enqueue(int iterations)
    {
        var c = _prepared ?? throw new InvalidOperationException("Enqueue before Prepare");
        OnEnqueue?.Invoke(c);
        var (seconds, watts) = law(c.Shape);
        var jitter = 1 + Jitter * (2 * _rng.NextDouble() - 1);
        gpu.Run(iterations * seconds * jitter, watts);
        Iterations += iterations;
    }

    public void Synchronize() => gpu.GoIdle();

    public void Dispose() => Disposed = true;

    /// <summary>A simple smooth law: 5 ms weight read floor, 23 µs per token beyond it, KV reads, power rising with load.</summary>
    public static (double Seconds, double Watts) DefaultLaw(IterationShape s)
    {
        var t = Math.Max(0.005, 2.3e-5 * s.TotalTokens) + 4e-8 * s.DecodeContextTokens + 1.5e-10 * s.PrefillAttentionPairs;
        var watts = 400 + 250 * Math.Min(1, 2.3e-5 * s.TotalTokens / t);
        return (t, watts);
    }
}

/// <summary>Records clock-control calls in order.</summary>
public sealed class FakeClockControl : IGpuClockControl
{
    public List<string> Calls { get; } = [];
    public bool FailLock { get; set; }
    public bool IsLocked { get; private set; }

    public void LockSmClocks(uint minMHz, uint maxMHz)
    {
        Calls.Add($"lock {minMHz}-{maxMHz}");
        if (FailLock) throw new InvalidOperationException("NVML_ERROR_NO_PERMISSION");
        IsLocked = true;
    }

    public void ResetSmClocks()
    {
        Calls.Add("reset");
        IsLocked = false;
    }
}
