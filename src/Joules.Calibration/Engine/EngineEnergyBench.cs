using Joules.Calibration.Measurement;
using Joules.Profiles;

namespace Joules.Calibration.Engine;

/// <summary>Energy of engine iterations, summed over every GPU of the engine and kept per GPU.</summary>
/// <param name="SecondsPerIteration">Median over trials.</param>
/// <param name="JoulesPerIteration">Median over trials of the energy of all GPUs together.</param>
/// <param name="MeanPowerWatts">All GPUs together.</param>
/// <param name="CvEnergy">Spread of the energy across trials.</param>
/// <param name="PerGpu">Each GPU's share.</param>
public sealed record EnergyResult(double SecondsPerIteration, double JoulesPerIteration, double MeanPowerWatts, double CvEnergy, IReadOnlyList<GpuShare> PerGpu);

/// <summary>Measures the energy of prepared engine iterations with the calibration protocol (NVML counters, read-only) on every GPU the engine uses.</summary>
public sealed class EngineEnergyBench : IDisposable
{
    private readonly IEngineInstance _engine;
    private readonly IReadOnlyList<NvmlTelemetry> _telemetry;
    private readonly MeasurementProtocol _protocol;

    /// <summary>Opens the telemetry of the engine's GPUs; <paramref name="options"/> defaults to the --quick protocol.</summary>
    public EngineEnergyBench(IEngineInstance engine, MeasurementOptions? options = null, IMeasurementClock? clock = null)
    {
        _engine = engine;
        _telemetry = NvmlTelemetry.ForDevices(engine.Devices.Select(d => d.Context));
        _protocol = new MeasurementProtocol(_telemetry.ToArray<IGpuTelemetry>(), clock ?? new SystemMeasurementClock(), options ?? MeasurementOptions.Quick);
    }

    /// <summary>UUIDs of the measured GPUs, rank order.</summary>
    public IReadOnlyList<string> Uuids => _telemetry.Select(t => t.Uuid).ToArray();

    /// <summary>Idle power of every GPU (measured once, first; windows are corrected with it).</summary>
    public PointResult MeasureIdle(CancellationToken cancel = default) => _protocol.MeasureIdle(cancel);

    /// <summary>Prepares <paramref name="c"/> unless it is the engine's prepared composition, then warms up and measures the protocol's trials.</summary>
    public EnergyResult Measure(IterationComposition c, CancellationToken cancel = default)
    {
        if (!ReferenceEquals(_engine.Composition, c)) _engine.Prepare(c);
        var perIteration = _protocol.WarmUp(_engine, cancel);
        var n = _protocol.IterationsPerWindow(perIteration);
        var trials = new List<TrialResult>();
        for (var i = 0; i < _protocol.Options.Trials; i++) trials.Add(_protocol.MeasureWindow(_engine, n, cancel));
        var r = PointResult.Summarise(new CalibrationPoint(Phase.Mixed, 0, 0, 0), null, trials);
        var per = r.PerGpu.Count > 0 ? r.PerGpu : [new GpuShare(_telemetry[0].Uuid, r.JoulesPerIteration, r.MeanPowerWatts, r.SmClockMHz, r.TemperatureC, r.ClockEventReasons)];
        _protocol.Settle(cancel);
        return new EnergyResult(r.SecondsPerIteration, r.JoulesPerIteration, r.MeanPowerWatts, r.CvEnergy, per);
    }

    public void Dispose()
    {
        foreach (var t in _telemetry) t.Dispose();
    }
}
