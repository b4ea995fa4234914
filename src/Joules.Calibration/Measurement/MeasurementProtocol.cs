namespace Joules.Calibration.Measurement;

/// <summary>Measures the time and energy of one iteration shape, or of idle, on one GPU: warm-up, sized windows, repeated trials.</summary>
/// <remarks>
/// NVML's total-energy counter advances in steps about 100 ms apart. Reading it around a short burst
/// of work returns zero or a whole step — aliasing of up to 100% of the answer. So each trial runs
/// many identical iterations back to back for at least <see cref="MeasurementOptions.WindowSeconds"/>,
/// the device is synchronised at both ends, and each read is taken just after the counter updates
/// (polling until it changes), which makes both reads fresh. The counter also keeps running while the
/// host waits for those updates; that gap is charged at the separately measured idle power and
/// removed, so the remaining energy is the work's.
/// </remarks>
public sealed class MeasurementProtocol
{
    private readonly IGpuTelemetry _gpu;
    private readonly IMeasurementClock _clock;
    private readonly MeasurementOptions _options;
    private readonly TelemetrySampler _sampler;

    public MeasurementProtocol(IGpuTelemetry gpu, IMeasurementClock clock, MeasurementOptions options)
    {
        options.Validate();
        _gpu = gpu;
        _clock = clock;
        _options = options;
        _sampler = new TelemetrySampler(gpu, options.SampleInterval, options.BackgroundSampling);
    }

    public MeasurementOptions Options => _options;

    /// <summary>Idle power of one GPU used to correct the gaps around each window; 0 until known.</summary>
    public double IdleWatts { get; set; }

    /// <summary>Reads the energy counter just after it updates, returning the reading and the time of the update.</summary>
    public (ulong Millijoules, double At) ReadCounterFresh(CancellationToken cancel)
    {
        var first = _gpu.TotalEnergyMillijoules();
        var start = _clock.Now;
        if (!_options.AlignToCounterUpdates) return (first, start);
        while (true)
        {
            _clock.Sleep(_options.CounterPollInterval, cancel);
            var v = _gpu.TotalEnergyMillijoules();
            var now = _clock.Now;
            // A counter that never moves (some virtualised GPUs) is read unaligned rather than waited on forever.
            if (v != first || now - start >= _options.CounterUpdateTimeoutSeconds) return (v, now);
        }
    }

    /// <summary>Idle power: windows with nothing running, after letting the GPU settle.</summary>
    public PointResult MeasureIdle(CancellationToken cancel)
    {
        // Idle power is not known yet, so the settle check cannot be used: wait the full settle time.
        _clock.Sleep(TimeSpan.FromSeconds(_options.SettleMaxSeconds), cancel);
        var trials = new List<TrialResult>();
        for (var i = 0; i < _options.IdleTrials; i++)
        {
            _sampler.Start();
            var (e0, t0) = ReadCounterFresh(cancel);
            _clock.Sleep(TimeSpan.FromSeconds(_options.IdleWindowSeconds), cancel);
            var (e1, t1) = ReadCounterFresh(cancel);
            var telemetry = _sampler.Stop();
            var joules = EnergyCounter.DeltaMillijoules(e0, e1) / 1000.0;
            trials.Add(new TrialResult(0, t1 - t0, joules, joules, 0, telemetry));
        }
        var result = PointResult.Summarise(new CalibrationPoint(Phase.Idle, 0, 0, 0), null, trials);
        // For idle the "per iteration" figures are per window and windows differ in length (they end on a
        // counter update), so the spread that means something is that of the windows' power.
        result = result with
        {
            CvTime = 0,
            CvEnergy = Statistics.CoefficientOfVariation(trials.Select(t => t.Seconds > 0 ? t.EnergyJoules / t.Seconds : 0).ToArray()),
        };
        IdleWatts = result.MeanPowerWatts;
        return result;
    }

    /// <summary>Measures a prepared point: warm-up and iteration-time estimate, then <see cref="MeasurementOptions.Trials"/> windows.</summary>
    public PointResult MeasurePoint(CalibrationPoint point, uint? smClockTarget, IIterationWorkload workload, CancellationToken cancel, Action<TrialResult>? onTrial = null)
    {
        var perIteration = WarmUp(workload, cancel);
        var n = IterationsPerWindow(perIteration);
        var trials = new List<TrialResult>(_options.Trials);
        for (var i = 0; i < _options.Trials; i++)
        {
            cancel.ThrowIfCancellationRequested();
            var trial = MeasureWindow(workload, n, cancel);
            trials.Add(trial);
            onTrial?.Invoke(trial);
        }
        return PointResult.Summarise(point, smClockTarget, trials);
    }

    /// <summary>Iterations that make a window last at least the configured length.</summary>
    public int IterationsPerWindow(double secondsPerIteration)
    {
        if (!(secondsPerIteration > 0)) return _options.MaxIterationsPerWindow;
        var n = Math.Ceiling(_options.WindowSeconds / secondsPerIteration);
        return (int)Math.Clamp(n, 1, _options.MaxIterationsPerWindow);
    }

    /// <summary>Runs growing batches of iterations until the warm-up time and count are reached; returns the last batch's seconds per iteration.</summary>
    public double WarmUp(IIterationWorkload workload, CancellationToken cancel)
    {
        workload.Synchronize();
        var start = _clock.Now;
        var done = 0;
        var batch = 1;
        var perIteration = 0.0;
        while (true)
        {
            cancel.ThrowIfCancellationRequested();
            var t = _clock.Now;
            workload.Enqueue(batch);
            workload.Synchronize();
            var dt = _clock.Now - t;
            done += batch;
            perIteration = dt / batch;
            var elapsed = _clock.Now - start;
            if (elapsed >= _options.WarmupSeconds && done >= _options.WarmupMinIterations) return perIteration;
            // Double the batch, but not far past the warm-up target: the estimate improves as batches grow.
            var remaining = Math.Max(_options.WarmupSeconds - elapsed, 0);
            var cap = perIteration > 0 ? Math.Max(1, (int)Math.Min(remaining / perIteration + 1, _options.MaxIterationsPerWindow)) : batch * 2;
            batch = Math.Max(1, Math.Min(batch * 2, cap));
            if (done >= _options.MaxIterationsPerWindow) return perIteration;
        }
    }

    /// <summary>One trial: synchronise, fresh counter read, n iterations, synchronise, fresh counter read.</summary>
    public TrialResult MeasureWindow(IIterationWorkload workload, int iterations, CancellationToken cancel)
    {
        workload.Synchronize();
        _sampler.Start();
        var (e0, t0) = ReadCounterFresh(cancel);
        var start = _clock.Now;
        workload.Enqueue(iterations);
        workload.Synchronize();
        var end = _clock.Now;
        var (e1, t1) = ReadCounterFresh(cancel);
        var telemetry = _sampler.Stop();
        var counter = EnergyCounter.DeltaMillijoules(e0, e1) / 1000.0;
        var gap = Math.Max(0, start - t0) + Math.Max(0, t1 - end);
        var energy = Math.Max(0, counter - IdleWatts * gap);
        return new TrialResult(iterations, end - start, energy, counter, gap, telemetry);
    }

    /// <summary>Cool-down between points: a fixed pause, then waits (bounded) until power is back near idle.</summary>
    public void Settle(CancellationToken cancel)
    {
        _clock.Sleep(TimeSpan.FromSeconds(_options.SettleSeconds), cancel);
        if (IdleWatts <= 0) return;
        var deadline = _clock.Now + Math.Max(0, _options.SettleMaxSeconds - _options.SettleSeconds);
        while (_clock.Now < deadline && _gpu.PowerWatts() > IdleWatts * 1.15 + 10)
            _clock.Sleep(TimeSpan.FromMilliseconds(250), cancel);
    }
}
