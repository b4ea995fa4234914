using Joules.Calibration.Engine;
using Joules.Cuda;
using Joules.Profiles;
using Joules.Scheduling;

namespace Joules.Serving.Engines;

/// <summary>
/// `joules serve --engine gpu`: the calibration transformer as a serving engine (<see cref="ServingEngine"/>), fed the
/// scheduler's batches with their real block tables; energy and power come from the GPU's NVML counters (read-only).
/// </summary>
public sealed class GpuEngine : IIterationEngine
{
    private readonly ServingEngine _engine;
    private readonly ServingBatch _batch = new();
    private readonly NvmlMeter? _meter;

    public GpuEngine(ModelCard model, ServingEngineOptions options)
    {
        _engine = new ServingEngine(model, options);
        try { _meter = new NvmlMeter(new NvmlDevice(_engine.DeviceUuid)); }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or InvalidOperationException or CudaException)
        {
            // Serving works without NVML; /metrics then has no power and replay measures energy itself.
            MeterProblem = e.Message;
        }
        Vocab = model.Vocab;
    }

    public string Kind => "gpu";
    public string DeviceName => _engine.DeviceName;
    public string DeviceUuid => _engine.DeviceUuid;
    public int KvBlocks => _engine.KvBlocks;
    public int Vocab { get; }
    public IEnergyMeter? Meter => _meter;
    public IReadOnlyDictionary<string, string> Kernels => _engine.Kernels;
    /// <summary>Why NVML could not be opened, if it could not.</summary>
    public string? MeterProblem { get; }
    public ServingEngine Engine => _engine;

    public EngineStep Run(ScheduledBatch batch, SequencePool pool, IReadOnlyList<int[]?> tokens, Span<int> sampled)
    {
        _batch.Clear();
        for (var e = 0; e < batch.Count; e++)
        {
            var s = batch.Slot(e);
            ref var q = ref pool[s];
            var c = batch.ContextBefore(e);
            _batch.Add(tokens[s].AsSpan(c, batch.Tokens(e)), c, q.Blocks, q.BlockCount);
        }
        var t = _engine.Run(_batch);
        _batch.Sampled.AsSpan(0, batch.Count).CopyTo(sampled);
        return new EngineStep(t.DeviceSeconds, double.NaN, t.Graph);
    }

    public void Dispose()
    {
        _meter?.Dispose();
        _engine.Dispose();
    }

    private sealed class NvmlMeter(NvmlDevice device) : IEnergyMeter, IDisposable
    {
        private readonly Lock _gate = new();
        public double TotalJoules() { lock (_gate) return device.TotalEnergyMillijoules() / 1000.0; }
        public double PowerWatts() { lock (_gate) return device.PowerWatts(); }
        public void Dispose() => device.Dispose();
    }
}
