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
}

/// <summary>Samples telemetry during a measurement window: once at each end and, on real hardware, on a background thread in between.</summary>
/// <remarks>
/// The background thread only reads NVML (thread-safe) and never touches the workload, so it cannot
/// perturb the timed work beyond NVML's own cost. Sampled power is informational; energy comes from
/// the cumulative counter, which does not alias.
/// </remarks>
public sealed class TelemetrySampler
{
    private readonly IGpuTelemetry _telemetry;
    private readonly TimeSpan _interval;
    private readonly bool _background;
    private readonly List<TelemetrySample> _samples = [];
    private readonly object _gate = new();
    private Thread? _thread;
    private volatile bool _stop;

    public TelemetrySampler(IGpuTelemetry telemetry, TimeSpan interval, bool background)
    {
        _telemetry = telemetry;
        _interval = interval;
        _background = background;
    }

    public TelemetrySample Read() =>
        new(_telemetry.PowerWatts(), _telemetry.SmClockMHz(), _telemetry.TemperatureC(), _telemetry.ClockEventReasons());

    public void Start()
    {
        lock (_gate) _samples.Clear();
        _stop = false;
        Add(Read());
        if (!_background) return;
        _thread = new Thread(Loop) { IsBackground = true, Name = "joules-telemetry-sampler" };
        _thread.Start();
    }

    public TelemetrySummary Stop()
    {
        _stop = true;
        _thread?.Join();
        _thread = null;
        Add(Read());
        lock (_gate) return TelemetrySummary.From(_samples.ToArray());
    }

    private void Add(TelemetrySample s)
    {
        lock (_gate) _samples.Add(s);
    }

    private void Loop()
    {
        while (!_stop)
        {
            Thread.Sleep(_interval);
            if (_stop) break;
            try
            {
                Add(Read());
            }
            catch (Exception)
            {
                // A failed sample loses one informational reading; the window's energy is unaffected.
            }
        }
    }
}
