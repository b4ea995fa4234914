namespace Joules.Calibration.Measurement;

/// <summary>Knobs of the measurement protocol: window length, trials, warm-up, settling and sampling.</summary>
public sealed record MeasurementOptions
{
    /// <summary>Minimum length of one measured window. NVML's energy counter updates about every 100 ms, so windows of seconds keep the read-out granularity far below 1%.</summary>
    public double WindowSeconds { get; init; } = 2.0;
    /// <summary>Windows per point; medians and the coefficient of variation are taken across them.</summary>
    public int Trials { get; init; } = 5;
    /// <summary>Warm-up before the first window of a point (clocks ramp, caches and graphs settle).</summary>
    public double WarmupSeconds { get; init; } = 1.0;
    public int WarmupMinIterations { get; init; } = 3;
    /// <summary>Cool-down after each point before the next one starts.</summary>
    public double SettleSeconds { get; init; } = 1.0;
    /// <summary>Longest the settle check waits for power to return near idle.</summary>
    public double SettleMaxSeconds { get; init; } = 3.0;
    /// <summary>Idle power window length and count; the idle point is measured first with nothing running.</summary>
    public double IdleWindowSeconds { get; init; } = 2.0;
    public int IdleTrials { get; init; } = 3;
    /// <summary>How often power, SM clock, temperature and clock-event reasons are sampled during a window.</summary>
    public TimeSpan SampleInterval { get; init; } = TimeSpan.FromMilliseconds(50);
    /// <summary>Sample on a background thread during windows (real hardware); off in deterministic tests, which still get a sample at each end.</summary>
    public bool BackgroundSampling { get; init; } = true;
    /// <summary>Start and stop windows on an energy-counter update, so each read is fresh rather than up to 100 ms stale.</summary>
    public bool AlignToCounterUpdates { get; init; } = true;
    /// <summary>How long to wait for a counter update before reading it unaligned.</summary>
    public double CounterUpdateTimeoutSeconds { get; init; } = 0.5;
    /// <summary>Poll interval while waiting for a counter update.</summary>
    public TimeSpan CounterPollInterval { get; init; } = TimeSpan.FromMilliseconds(1);
    /// <summary>Prepare and estimation time per point assumed by the run-time estimate (KV fill, graph capture).</summary>
    public double PerPointOverheadSeconds { get; init; } = 1.5;
    /// <summary>Upper bound on iterations per window, protecting against a workload that reports zero time.</summary>
    public int MaxIterationsPerWindow { get; init; } = 1_000_000;

    /// <summary>Defaults of a full calibration.</summary>
    public static MeasurementOptions Default { get; } = new();

    /// <summary>The --quick protocol: shorter windows, fewer trials, shorter settling.</summary>
    public static MeasurementOptions Quick { get; } = new()
    {
        WindowSeconds = 1.5, Trials = 3, WarmupSeconds = 0.5, SettleSeconds = 0.5, SettleMaxSeconds = 2.0,
        IdleWindowSeconds = 1.0, IdleTrials = 3, PerPointOverheadSeconds = 1.0,
    };

    /// <summary>Throws <see cref="ArgumentException"/> naming the bad setting.</summary>
    public void Validate()
    {
        if (!(WindowSeconds > 0)) throw new ArgumentException($"window must be positive seconds, got {WindowSeconds}");
        if (Trials < 1) throw new ArgumentException($"trials must be at least 1, got {Trials}");
        if (WarmupSeconds < 0) throw new ArgumentException($"warm-up must not be negative, got {WarmupSeconds}");
        if (IdleTrials < 1 || !(IdleWindowSeconds > 0)) throw new ArgumentException("idle measurement needs at least one positive window");
    }

    /// <summary>Estimated wall time of one grid point under these options.</summary>
    /// <remarks>The settle check is assumed to wait half of its bound on average.</remarks>
    public double EstimatedSecondsPerPoint => WarmupSeconds + Trials * (WindowSeconds + 0.1) + (SettleSeconds + SettleMaxSeconds) / 2 + PerPointOverheadSeconds;

    /// <summary>Estimated wall time of the idle measurement.</summary>
    public double EstimatedIdleSeconds => SettleMaxSeconds + IdleTrials * (IdleWindowSeconds + 0.1);
}
