namespace Joules.Calibration.Measurement;

/// <summary>One reading of the GPU's power, SM clock, temperature and clock-event reasons.</summary>
public readonly record struct TelemetrySample(double PowerWatts, uint SmClockMHz, uint TemperatureC, ulong ClockEventReasons);

/// <summary>What the telemetry said during one window: means, the hottest reading and every clock-event reason seen.</summary>
public readonly record struct TelemetrySummary(int Samples, double MeanPowerWatts, double MeanSmClockMHz, double MaxTemperatureC, ulong ClockEventReasons)
{
    public static TelemetrySummary From(IReadOnlyCollection<TelemetrySample> samples) => samples.Count == 0
        ? default
        : new(samples.Count, samples.Average(s => s.PowerWatts), samples.Average(s => (double)s.SmClockMHz),
            samples.Max(s => (double)s.TemperatureC), samples.Aggregate(0UL, (a, s) => a | s.ClockEventReasons));

    /// <summary>Several GPUs measured together: power adds up, SM clocks average, the hottest reading and every reason are kept.</summary>
    public static TelemetrySummary Combine(IReadOnlyList<TelemetrySummary> gpus) => gpus.Count == 1
        ? gpus[0]
        : new(gpus.Min(g => g.Samples), gpus.Sum(g => g.MeanPowerWatts), gpus.Average(g => g.MeanSmClockMHz),
            gpus.Max(g => g.MaxTemperatureC), gpus.Aggregate(0UL, (a, g) => a | g.ClockEventReasons));
}

/// <summary>Samples telemetry of one GPU, or of every GPU of an instance, during a measurement window: once at each end and, on real hardware, on a background thread in between.</summary>
/// <remarks>
/// The background thread only reads NVML (thread-safe) and never touches the workload, so it cannot
/// perturb the timed work beyond NVML's own cost. Sampled power is informational; energy comes from
/// the cumulative counter, which does not alias.
/// </remarks>
public sealed class TelemetrySampler
{
    private readonly IReadOnlyList<IGpuTelemetry> _gpus;
    private readonly TimeSpan _interval;
    private readonly bool _background;
    private readonly List<TelemetrySample>[] _samples;
    private readonly object _gate = new();
    private Thread? _thread;
    private volatile bool _stop;

    public TelemetrySampler(IGpuTelemetry telemetry, TimeSpan interval, bool background) : this([telemetry], interval, background) { }

    public TelemetrySampler(IReadOnlyList<IGpuTelemetry> gpus, TimeSpan interval, bool background)
    {
        if (gpus.Count == 0) throw new ArgumentException("telemetry needs at least one GPU");
        _gpus = gpus;
        _interval = interval;
        _background = background;
        _samples = gpus.Select(_ => new List<TelemetrySample>()).ToArray();
    }

    /// <summary>Per-GPU summaries of the last window (the same order as the GPUs given).</summary>
    public IReadOnlyList<TelemetrySummary> LastPerGpu { get; private set; } = [];

    /// <summary>One reading of GPU <paramref name="gpu"/>.</summary>
    public TelemetrySample Read(int gpu = 0)
    {
        var t = _gpus[gpu];
        return new(t.PowerWatts(), t.SmClockMHz(), t.TemperatureC(), t.ClockEventReasons());
    }

    public void Start()
    {
        lock (_gate) foreach (var s in _samples) s.Clear();
        _stop = false;
        AddAll();
        if (!_background) return;
        _thread = new Thread(Loop) { IsBackground = true, Name = "joules-telemetry-sampler" };
        _thread.Start();
    }

    /// <summary>Ends the window; the summary of all GPUs together (<see cref="TelemetrySummary.Combine"/>), each GPU's in <see cref="LastPerGpu"/>.</summary>
    public TelemetrySummary Stop()
    {
        _stop = true;
        _thread?.Join();
        _thread = null;
        AddAll();
        TelemetrySummary[] per;
        lock (_gate) per = _samples.Select(s => TelemetrySummary.From(s.ToArray())).ToArray();
        LastPerGpu = per;
        return TelemetrySummary.Combine(per);
    }

    private void AddAll()
    {
        for (var i = 0; i < _gpus.Count; i++)
        {
            var s = Read(i);
            lock (_gate) _samples[i].Add(s);
        }
    }

    private void Loop()
    {
        while (!_stop)
        {
            Thread.Sleep(_interval);
            if (_stop) break;
            try
            {
                AddAll();
            }
            catch (Exception)
            {
                // A failed sample loses one informational reading; the window's energy is unaffected.
            }
        }
    }
}
