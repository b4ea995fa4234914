using System.Diagnostics;
using Joules.Profiles;
using Joules.Scheduling;

namespace Joules.Serving.Engines;

/// <summary>
/// The GPU-free engine of `joules serve --engine sim`: each iteration is priced by the cost model and the engine waits
/// that long in real time, so every HTTP and scheduling path runs as it would on a GPU (and a gateway or router sees a
/// realistic vLLM stand-in). Its energy counter charges each iteration's priced joules and idle power in between.
/// </summary>
public sealed class SimulatedEngine : IIterationEngine, IEnergyMeter
{
    private readonly ICostModel _cost;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly Lock _gate = new();
    private double _busySeconds;
    private double _busyJoules;
    private double _lastWatts;

    /// <param name="cost">Prices iterations.</param>
    /// <param name="kvBlocks">KV capacity in blocks (as the simulator sizes it).</param>
    public SimulatedEngine(ICostModel cost, int kvBlocks)
    {
        _cost = cost;
        KvBlocks = kvBlocks;
        _lastWatts = cost.IdleWatts;
    }

    public string Kind => "sim";
    public string DeviceName => $"simulated {_cost.Gpu.Name}";
    public string DeviceUuid => "";
    public int KvBlocks { get; }
    public int Vocab => _cost.Model.Vocab;
    public IEnergyMeter? Meter => this;
    public IReadOnlyDictionary<string, string> Kernels { get; } = new Dictionary<string, string>();
    public ICostModel Cost => _cost;

    public EngineStep Run(ScheduledBatch batch, SequencePool pool, IReadOnlyList<int[]?> tokens, Span<int> sampled)
    {
        var start = _clock.Elapsed.TotalSeconds;
        var c = _cost.Estimate(batch.Shape);
        lock (_gate) _lastWatts = c.MeanWatts;
        WaitUntil(start + c.Seconds);
        for (var e = 0; e < batch.Count; e++)
        {
            ref var q = ref pool[batch.Slot(e)];
            sampled[e] = Token(q.Id, q.Computed + batch.Tokens(e), Vocab);
        }
        lock (_gate)
        {
            _busySeconds += c.Seconds;
            _busyJoules += c.Joules;
            _lastWatts = _cost.IdleWatts;
        }
        return new EngineStep(c.Seconds, c.Joules);
    }

    /// <summary>A deterministic stand-in for a sampled token: a hash of the request and the position.</summary>
    public static int Token(long id, int position, int vocab)
    {
        var z = unchecked((ulong)id * 0x9E3779B97F4A7C15UL + (ulong)position * 0xBF58476D1CE4E5B9UL);
        z ^= z >> 31;
        return (int)(z % (ulong)vocab);
    }

    // Sleeps while the deadline is far (the OS timer is coarse) and spins the last stretch, so iterations last what they are priced at.
    private void WaitUntil(double deadline)
    {
        while (true)
        {
            var left = deadline - _clock.Elapsed.TotalSeconds;
            if (left <= 0) return;
            if (left > 0.002) Thread.Sleep(TimeSpan.FromSeconds(left - 0.0015));
            else Thread.SpinWait(50);
        }
    }

    public double TotalJoules()
    {
        lock (_gate)
        {
            var now = _clock.Elapsed.TotalSeconds;
            return _busyJoules + Math.Max(0, now - _busySeconds) * _cost.IdleWatts;
        }
    }

    public double PowerWatts()
    {
        lock (_gate) return _lastWatts;
    }

    public void Dispose() { }
}
