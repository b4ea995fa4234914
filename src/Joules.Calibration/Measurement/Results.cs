namespace Joules.Calibration.Measurement;

/// <summary>One measured window: iterations run back to back between two energy-counter reads.</summary>
/// <param name="Iterations">Iterations enqueued in the window.</param>
/// <param name="Seconds">Host time from enqueue to device synchronisation.</param>
/// <param name="EnergyJoules">Energy attributed to the window's work (counter delta minus idle power over the gaps around it).</param>
/// <param name="CounterJoules">Raw counter delta between the two reads.</param>
/// <param name="GapSeconds">Time between the counter reads that was not part of the work (waiting for counter updates).</param>
/// <param name="Telemetry">Power, clock, temperature and clock-event reasons sampled during the window (all GPUs together: power summed).</param>
/// <param name="PerGpu">For a window over several GPUs, each GPU's own share; empty for one GPU.</param>
public sealed record TrialResult(int Iterations, double Seconds, double EnergyJoules, double CounterJoules, double GapSeconds, TelemetrySummary Telemetry,
    IReadOnlyList<GpuWindow>? PerGpu = null)
{
    /// <summary>Each GPU's share of the window (empty for a one-GPU window).</summary>
    public IReadOnlyList<GpuWindow> Gpus => PerGpu ?? [];

    public double SecondsPerIteration => Iterations > 0 ? Seconds / Iterations : Seconds;
    public double JoulesPerIteration => Iterations > 0 ? EnergyJoules / Iterations : EnergyJoules;
}

/// <summary>One GPU's part of a window measured over several GPUs: its own counter delta, gap correction and telemetry.</summary>
/// <param name="Uuid">The GPU's NVML UUID.</param>
/// <param name="EnergyJoules">This GPU's counter delta minus its idle power over its own gaps.</param>
/// <param name="CounterJoules">This GPU's raw counter delta.</param>
/// <param name="GapSeconds">Time between this GPU's counter reads that was not part of the work.</param>
/// <param name="Telemetry">This GPU's sampled telemetry.</param>
public sealed record GpuWindow(string Uuid, double EnergyJoules, double CounterJoules, double GapSeconds, TelemetrySummary Telemetry);

/// <summary>One GPU's part of a point measured over several GPUs.</summary>
/// <param name="Uuid">The GPU's NVML UUID.</param>
/// <param name="JoulesPerIteration">Median over trials of this GPU's energy per iteration (idle: per window).</param>
/// <param name="MeanPowerWatts">This GPU's energy over the trials' time.</param>
/// <param name="SmClockMHz">Mean SM clock over the trials.</param>
/// <param name="TemperatureC">Hottest reading.</param>
/// <param name="ClockEventReasons">Every clock-event reason seen, OR-ed.</param>
public sealed record GpuShare(string Uuid, double JoulesPerIteration, double MeanPowerWatts, double SmClockMHz, double TemperatureC, ulong ClockEventReasons);

/// <summary>A measured (or skipped) grid point: its trials and their summary statistics.</summary>
public sealed record PointResult
{
    public required CalibrationPoint Point { get; init; }
    /// <summary>SM clock the GPU was locked to, or null for default clock management.</summary>
    public uint? SmClockTarget { get; init; }
    /// <summary>UUID of the card that measured the point ("" when not known: then the log's first card).</summary>
    public string GpuUuid { get; init; } = "";
    public IReadOnlyList<TrialResult> Trials { get; init; } = [];
    /// <summary>Why the point was not measured (does not fit in memory), or null.</summary>
    public string? SkippedReason { get; init; }
    /// <summary>Trials the summary was taken over (kept when trials themselves are not, e.g. read back from the raw log).</summary>
    public int Repeats { get; init; }
    public double SecondsPerIteration { get; init; }
    public double JoulesPerIteration { get; init; }
    public double MeanPowerWatts { get; init; }
    public double CvTime { get; init; }
    public double CvEnergy { get; init; }
    public double SmClockMHz { get; init; }
    public double TemperatureC { get; init; }
    public ulong ClockEventReasons { get; init; }
    /// <summary>Each GPU's share when the point was measured over several GPUs (the figures above are their sums); empty for one GPU.</summary>
    public IReadOnlyList<GpuShare> PerGpu { get; init; } = [];

    public bool Skipped => SkippedReason is not null;

    /// <summary>Summarises trials: medians per iteration, energy-weighted mean power, coefficients of variation.</summary>
    public static PointResult Summarise(CalibrationPoint point, uint? clock, IReadOnlyList<TrialResult> trials)
    {
        if (trials.Count == 0) throw new ArgumentException("a point needs at least one trial", nameof(trials));
        var times = trials.Select(t => t.SecondsPerIteration).ToArray();
        var energies = trials.Select(t => t.JoulesPerIteration).ToArray();
        var totalSeconds = trials.Sum(t => t.Seconds);
        return new PointResult
        {
            Point = point,
            SmClockTarget = clock,
            Trials = trials,
            Repeats = trials.Count,
            SecondsPerIteration = Statistics.Median(times),
            JoulesPerIteration = Statistics.Median(energies),
            MeanPowerWatts = totalSeconds > 0 ? trials.Sum(t => t.EnergyJoules) / totalSeconds : 0,
            CvTime = Statistics.CoefficientOfVariation(times),
            CvEnergy = Statistics.CoefficientOfVariation(energies),
            SmClockMHz = trials.Average(t => t.Telemetry.MeanSmClockMHz),
            TemperatureC = trials.Max(t => t.Telemetry.MaxTemperatureC),
            ClockEventReasons = trials.Aggregate(0UL, (a, t) => a | t.Telemetry.ClockEventReasons),
            PerGpu = SummarisePerGpu(trials, totalSeconds),
        };
    }

    private static IReadOnlyList<GpuShare> SummarisePerGpu(IReadOnlyList<TrialResult> trials, double totalSeconds)
    {
        var n = trials[0].Gpus.Count;
        if (n == 0 || trials.Any(t => t.Gpus.Count != n)) return [];
        return Enumerable.Range(0, n).Select(i => new GpuShare(
            trials[0].Gpus[i].Uuid,
            Statistics.Median(trials.Select(t => t.Iterations > 0 ? t.Gpus[i].EnergyJoules / t.Iterations : t.Gpus[i].EnergyJoules).ToArray()),
            totalSeconds > 0 ? trials.Sum(t => t.Gpus[i].EnergyJoules) / totalSeconds : 0,
            trials.Average(t => t.Gpus[i].Telemetry.MeanSmClockMHz),
            trials.Max(t => t.Gpus[i].Telemetry.MaxTemperatureC),
            trials.Aggregate(0UL, (a, t) => a | t.Gpus[i].Telemetry.ClockEventReasons))).ToArray();
    }
}

/// <summary>Median and coefficient of variation, as the protocol reports them.</summary>
public static class Statistics
{
    public static double Median(IReadOnlyList<double> values)
    {
        if (values.Count == 0) return double.NaN;
        var a = values.Order().ToArray();
        return a.Length % 2 == 1 ? a[a.Length / 2] : (a[a.Length / 2 - 1] + a[a.Length / 2]) / 2;
    }

    /// <summary>Sample standard deviation over mean; 0 for a single value.</summary>
    public static double CoefficientOfVariation(IReadOnlyList<double> values)
    {
        if (values.Count < 2) return 0;
        var mean = values.Average();
        if (mean == 0) return 0;
        var variance = values.Sum(v => (v - mean) * (v - mean)) / (values.Count - 1);
        return Math.Sqrt(variance) / Math.Abs(mean);
    }
}
