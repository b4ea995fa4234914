using System.Text.Json.Serialization;
using Joules.Cuda;
using Joules.Simulation;

namespace Joules.Replay;

/// <summary>One GPU whose energy a replay measured, and what its telemetry showed during the run.</summary>
public sealed record GpuRecord
{
    public int Index { get; init; }
    public string Name { get; init; } = "";
    public string Uuid { get; init; } = "";
    public string Driver { get; init; } = "";
    public string Cuda { get; init; } = "";
    public double PowerLimitW { get; init; }
    public double EnergyJ { get; set; }
    // Null until the first sample (an energy source without telemetry never sets them; run.json then leaves them out).
    [JsonPropertyName("sm_clock_min_mhz")] public uint? SmClockMinMHz { get; set; }
    [JsonPropertyName("sm_clock_max_mhz")] public uint? SmClockMaxMHz { get; set; }
    [JsonPropertyName("mem_clock_min_mhz")] public uint? MemClockMinMHz { get; set; }
    [JsonPropertyName("mem_clock_max_mhz")] public uint? MemClockMaxMHz { get; set; }
    public uint? TemperatureMinC { get; set; }
    public uint? TemperatureMaxC { get; set; }
    public double PowerMaxW { get; set; }
    /// <summary>Every clock-event (throttle) reason seen during the run.</summary>
    public SortedSet<string> ThrottleReasons { get; } = new(StringComparer.Ordinal);
}

/// <summary>Where a replay reads energy: the local GPUs' NVML counters, or the endpoint's own counter in /metrics (`joules serve --engine sim`).</summary>
public interface IEnergySource : IDisposable
{
    /// <summary>"nvml" or "endpoint".</summary>
    string Kind { get; }
    IReadOnlyList<GpuRecord> Gpus { get; }
    /// <summary>Each GPU's cumulative energy in joules now; also updates the telemetry records.</summary>
    Task<double[]> ReadAsync(CancellationToken cancel);
}

/// <summary>Read-only NVML counters of local GPUs (never changes a setting).</summary>
public sealed class NvmlEnergySource : IEnergySource
{
    private readonly NvmlDevice[] _devices;

    /// <param name="indices">NVML indices to sample; null: every GPU.</param>
    public NvmlEnergySource(IReadOnlyList<int>? indices = null)
    {
        var count = (int)NvmlDevice.Count();
        var which = indices ?? Enumerable.Range(0, count).ToArray();
        foreach (var i in which)
            if (i < 0 || i >= count) throw new ArgumentException($"--gpus: GPU {i} does not exist (this machine has {count})");
        _devices = which.Select(i => new NvmlDevice((uint)i)).ToArray();
        Gpus = _devices.Select(d => new GpuRecord
        {
            Index = (int)d.Index, Name = d.Name, Uuid = d.Uuid, Driver = d.DriverVersion, Cuda = d.CudaVersion, PowerLimitW = d.PowerLimitWatts(),
        }).ToArray();
    }

    /// <summary>Whether NVML can be loaded and sees at least one GPU.</summary>
    public static bool Available()
    {
        try { return NvmlDevice.Count() > 0; }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or CudaException) { return false; }
    }

    public string Kind => "nvml";
    public IReadOnlyList<GpuRecord> Gpus { get; }

    public Task<double[]> ReadAsync(CancellationToken cancel)
    {
        var j = new double[_devices.Length];
        for (var i = 0; i < _devices.Length; i++)
        {
            var d = _devices[i];
            var g = Gpus[i];
            j[i] = d.TotalEnergyMillijoules() / 1000.0;
            var sm = d.ClockMHz(NvmlClock.Sm);
            var mem = d.ClockMHz(NvmlClock.Memory);
            var temp = d.TemperatureC();
            g.SmClockMinMHz = Math.Min(g.SmClockMinMHz ?? uint.MaxValue, sm);
            g.SmClockMaxMHz = Math.Max(g.SmClockMaxMHz ?? 0, sm);
            g.MemClockMinMHz = Math.Min(g.MemClockMinMHz ?? uint.MaxValue, mem);
            g.MemClockMaxMHz = Math.Max(g.MemClockMaxMHz ?? 0, mem);
            g.TemperatureMinC = Math.Min(g.TemperatureMinC ?? uint.MaxValue, temp);
            g.TemperatureMaxC = Math.Max(g.TemperatureMaxC ?? 0, temp);
            g.PowerMaxW = Math.Max(g.PowerMaxW, d.PowerWatts());
            var reasons = NvmlDevice.DescribeReasons(d.ClockEventReasons());
            if (reasons != "none") foreach (var r in reasons.Split(',')) g.ThrottleReasons.Add(r);
        }
        return Task.FromResult(j);
    }

    public void Dispose()
    {
        foreach (var d in _devices) d.Dispose();
    }
}

/// <summary>The endpoint's own energy counter (joules:gpu_energy_joules_total in /metrics), for servers that price energy themselves (`joules serve --engine sim`).</summary>
public sealed class EndpointEnergySource(HttpClient http, Uri baseUri, string device) : IEnergySource
{
    public const string Metric = "joules:gpu_energy_joules_total";
    private readonly Uri _metrics = new(baseUri, "metrics");

    public string Kind => "endpoint";
    public IReadOnlyList<GpuRecord> Gpus { get; } = [new GpuRecord { Name = device, Uuid = "" }];

    public async Task<double[]> ReadAsync(CancellationToken cancel)
    {
        var text = await http.GetStringAsync(_metrics, cancel);
        var v = PrometheusText.Sum(PrometheusText.Parse(text), Metric)
                ?? throw new InvalidOperationException($"{_metrics}: has no {Metric} any more");
        return [v];
    }

    public void Dispose() { }
}

/// <summary>Samples an energy source at a fixed interval into power-timeline rows (one per GPU per interval) and keeps each GPU's total.</summary>
public sealed class EnergySampler(IEnergySource source, double intervalS, Func<double> clock)
{
    private readonly List<PowerSample> _samples = new();
    private double[] _start = [];
    private double[] _last = [];
    private double _lastT;

    public IReadOnlyList<PowerSample> Samples => _samples;
    public IEnergySource Source => source;

    /// <summary>Total energy over every GPU between <see cref="StartAsync"/> and <see cref="StopAsync"/>.</summary>
    public double TotalJoules { get; private set; }

    public async Task StartAsync(CancellationToken cancel)
    {
        _start = _last = await source.ReadAsync(cancel);
        _lastT = clock();
    }

    /// <summary>Samples until <paramref name="cancel"/> is cancelled.</summary>
    public async Task RunAsync(CancellationToken cancel)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(intervalS));
        try
        {
            while (await timer.WaitForNextTickAsync(cancel)) await SampleAsync(CancellationToken.None);
        }
        catch (OperationCanceledException) { }
    }

    private async Task SampleAsync(CancellationToken cancel)
    {
        var now = await source.ReadAsync(cancel);
        var t = clock();
        for (var i = 0; i < now.Length; i++)
            _samples.Add(new PowerSample(i, _lastT, t, now[i] - _last[i], double.NaN));
        _last = now;
        _lastT = t;
    }

    /// <summary>A last sample at the end of the run; fills in the totals.</summary>
    public async Task StopAsync(CancellationToken cancel)
    {
        await SampleAsync(cancel);
        double total = 0;
        for (var i = 0; i < _last.Length; i++)
        {
            var e = _last[i] - _start[i];
            source.Gpus[i].EnergyJ = e;
            total += e;
        }
        TotalJoules = total;
    }
}
