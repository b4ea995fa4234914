namespace Joules.Calibration.Measurement;

/// <summary>Measures the time and energy of one iteration shape, or of idle, on one GPU or on every GPU of a tensor-parallel instance: warm-up, sized windows, repeated trials.</summary>
/// <remarks>
/// NVML's total-energy counter advances in steps about 100 ms apart. Reading it around a short burst
/// of work returns zero or a whole step — aliasing of up to 100% of the answer. So each trial runs
/// many identical iterations back to back for at least <see cref="MeasurementOptions.WindowSeconds"/>,
/// the device is synchronised at both ends, and each read is taken just after the counter updates
/// (polling until it changes), which makes both reads fresh. The counter also keeps running while the
/// host waits for those updates; that gap is charged at the separately measured idle power and
/// removed, so the remaining energy is the work's.
/// Over several GPUs each counter is read this way on its own (the read ends once every counter has moved),
/// each GPU's gaps are charged at its own idle power, and the window's energy is the sum over the GPUs.
/// </remarks>
public sealed class MeasurementProtocol
{
    private readonly IReadOnlyList<IGpuTelemetry> _gpus;
    private readonly IMeasurementClock _clock;
    private readonly MeasurementOptions _options;
    private readonly TelemetrySampler _sampler;
    private readonly double[] _idle;

    public MeasurementProtocol(IGpuTelemetry gpu, IMeasurementClock clock, MeasurementOptions options) : this([gpu], clock, options) { }

    /// <summary>A protocol over several GPUs measured together (the GPUs of one tensor-parallel instance).</summary>
    public MeasurementProtocol(IReadOnlyList<IGpuTelemetry> gpus, IMeasurementClock clock, MeasurementOptions options)
    {
        options.Validate();
        if (gpus.Count == 0) throw new ArgumentException("a measurement needs at least one GPU");
        _gpus = gpus;
        _clock = clock;
        _options = options;
        _sampler = new TelemetrySampler(gpus, options.SampleInterval, options.BackgroundSampling);
        _idle = new double[gpus.Count];
    }

    public MeasurementOptions Options => _options;

    /// <summary>The GPUs measured together.</summary>
    public IReadOnlyList<IGpuTelemetry> Gpus => _gpus;

    /// <summary>Idle power of all measured GPUs together, used to correct the gaps around each window; 0 until known. Setting it shares it evenly among the GPUs.</summary>
    public double IdleWatts
    {
        get => _idle.Sum();
        set { for (var i = 0; i < _idle.Length; i++) _idle[i] = value / _idle.Length; }
    }

    /// <summary>Idle power of each measured GPU.</summary>
    public IReadOnlyList<double> IdleWattsPerGpu
    {
        get => _idle;
        set
        {
            if (value.Count != _idle.Length) throw new ArgumentException($"{value.Count} idle powers for {_idle.Length} GPU(s)");
            for (var i = 0; i < _idle.Length; i++) _idle[i] = value[i];
        }
    }

    /// <summary>Reads every GPU's energy counter just after it updates, returning each reading and the time of its update.</summary>
    public (ulong Millijoules, double At)[] ReadCountersFresh(CancellationToken cancel)
    {
        var n = _gpus.Count;
        var first = new ulong[n];
        for (var i = 0; i < n; i++) first[i] = _gpus[i].TotalEnergyMillijoules();
        var start = _clock.Now;
        var result = new (ulong, double)[n];
        if (!_options.AlignToCounterUpdates)
        {
            for (var i = 0; i < n; i++) result[i] = (first[i], start);
            return result;
        }
        var pending = Enumerable.Range(0, n).ToList();
        while (true)
        {
            _clock.Sleep(_options.CounterPollInterval, cancel);
            for (var k = pending.Count - 1; k >= 0; k--)
            {
                var i = pending[k];
                var v = _gpus[i].TotalEnergyMillijoules();
                var now = _clock.Now;
                // A counter that never moves (some virtualised GPUs) is read unaligned rather than waited on forever.
                if (v != first[i] || now - start >= _options.CounterUpdateTimeoutSeconds)
                {
                    result[i] = (v, now);
                    pending.RemoveAt(k);
                }
            }
            if (pending.Count == 0) return result;
        }
    }

    /// <summary>Idle power: windows with nothing running, after letting the GPUs settle.</summary>
    public PointResult MeasureIdle(CancellationToken cancel)
    {
        // Idle power is not known yet, so the settle check cannot be used: wait the full settle time.
        _clock.Sleep(TimeSpan.FromSeconds(_options.SettleMaxSeconds), cancel);
        var n = _gpus.Count;
        var trials = new List<TrialResult>();
        var joules = new double[n];
        var seconds = new double[n];
        for (var t = 0; t < _options.IdleTrials; t++)
        {
            _sampler.Start();
            var r0 = ReadCountersFresh(cancel);
            _clock.Sleep(TimeSpan.FromSeconds(_options.IdleWindowSeconds), cancel);
            var r1 = ReadCountersFresh(cancel);
            var telemetry = _sampler.Stop();
            if (n == 1)
            {
                var j = EnergyCounter.DeltaMillijoules(r0[0].Millijoules, r1[0].Millijoules) / 1000.0;
                joules[0] += j;
                seconds[0] += r1[0].At - r0[0].At;
                trials.Add(new TrialResult(0, r1[0].At - r0[0].At, j, j, 0, telemetry));
                continue;
            }
            // Each GPU's window runs between its own counter updates; the instance's power is the sum of theirs.
            var per = new GpuWindow[n];
            double watts = 0, window = 0;
            for (var i = 0; i < n; i++)
            {
                var j = EnergyCounter.DeltaMillijoules(r0[i].Millijoules, r1[i].Millijoules) / 1000.0;
                var dt = r1[i].At - r0[i].At;
                joules[i] += j;
                seconds[i] += dt;
                watts += dt > 0 ? j / dt : 0;
                window += dt / n;
                per[i] = new GpuWindow(_gpus[i].Uuid, j, j, 0, _sampler.LastPerGpu[i]);
            }
            trials.Add(new TrialResult(0, window, watts * window, watts * window, 0, telemetry, per));
        }
        var result = PointResult.Summarise(new CalibrationPoint(Phase.Idle, 0, 0, 0), null, trials);
        // For idle the "per iteration" figures are per window and windows differ in length (they end on a
        // counter update), so the spread that means something is that of the windows' power.
        result = result with
        {
            CvTime = 0,
            CvEnergy = Statistics.CoefficientOfVariation(trials.Select(t => t.Seconds > 0 ? t.EnergyJoules / t.Seconds : 0).ToArray()),
        };
        for (var i = 0; i < n; i++) _idle[i] = n == 1 ? result.MeanPowerWatts : seconds[i] > 0 ? joules[i] / seconds[i] : 0;
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

    /// <summary>One trial: synchronise, fresh counter reads, n iterations, synchronise, fresh counter reads.</summary>
    public TrialResult MeasureWindow(IIterationWorkload workload, int iterations, CancellationToken cancel)
    {
        workload.Synchronize();
        _sampler.Start();
        var r0 = ReadCountersFresh(cancel);
        var start = _clock.Now;
        workload.Enqueue(iterations);
        workload.Synchronize();
        var end = _clock.Now;
        var r1 = ReadCountersFresh(cancel);
        var telemetry = _sampler.Stop();
        var n = _gpus.Count;
        var per = new GpuWindow[n];
        double energy = 0, counter = 0, gaps = 0;
        for (var i = 0; i < n; i++)
        {
            var c = EnergyCounter.DeltaMillijoules(r0[i].Millijoules, r1[i].Millijoules) / 1000.0;
            var gap = Math.Max(0, start - r0[i].At) + Math.Max(0, r1[i].At - end);
            var e = Math.Max(0, c - _idle[i] * gap);
            per[i] = new GpuWindow(_gpus[i].Uuid, e, c, gap, n == 1 ? telemetry : _sampler.LastPerGpu[i]);
            energy += e;
            counter += c;
            gaps += gap / n;
        }
        return new TrialResult(iterations, end - start, energy, counter, gaps, telemetry, n == 1 ? null : per);
    }

    /// <summary>Cool-down between points: a fixed pause, then waits (bounded) until power is back near idle.</summary>
    public void Settle(CancellationToken cancel)
    {
        _clock.Sleep(TimeSpan.FromSeconds(_options.SettleSeconds), cancel);
        if (IdleWatts <= 0) return;
        var deadline = _clock.Now + Math.Max(0, _options.SettleMaxSeconds - _options.SettleSeconds);
        while (_clock.Now < deadline && _gpus.Sum(g => g.PowerWatts()) > IdleWatts * 1.15 + 10 * _gpus.Count)
            _clock.Sleep(TimeSpan.FromMilliseconds(250), cancel);
    }
}
