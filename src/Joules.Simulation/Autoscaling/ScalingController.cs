using Joules.Profiles;
using Joules.Simulation.Engine;
using Joules.Simulation.Kernel;

namespace Joules.Simulation.Autoscaling;

/// <summary>One scaling decision that changed the number of serving instances.</summary>
public readonly record struct ScaleEvent(double TimeS, int From, int To);

/// <summary>
/// Puts an autoscaler's decisions into effect on the cluster's instances: a decision every interval (instances brought
/// up to it first, so the signal is exact), cold starts (weight load at the server card's bandwidth plus engine start,
/// at the GPUs' idle power), draining (no new requests) and parking once drained (GPUs off, the server's share stays),
/// and waking one at once when a request arrives with nothing serving (scale from zero; the request waits).
/// </summary>
public sealed class ScalingController : IEventTarget
{
    private const long Tick = -1;
    private readonly IAutoscaler _policy;
    private readonly AutoscalerConfig _cfg;
    private readonly Instance[] _instances;
    private readonly SimEnvironment _env;
    private readonly Action<int, double> _touched;
    private readonly double _coldStartSeconds;
    private readonly long _originMicros;
    private readonly List<ScaleEvent> _events = [];
    private long _arrivals;
    private long _arrivalsAtLastTick;
    private double _lastTick;
    private double _inputSum;
    private double _outputSum;
    private bool _traceDone;
    private double _weightedInstances;
    private double _lastCount;
    private double _lastCountAt;

    public ScalingController(IAutoscaler policy, AutoscalerConfig cfg, Instance[] instances, SimEnvironment env, Deployment deployment,
        long originMicros, Action<int, double> touched)
    {
        _policy = policy;
        _cfg = cfg;
        _instances = instances;
        _env = env;
        _touched = touched;
        _originMicros = originMicros;
        var node = deployment.Node ?? Catalog.NodeFor(deployment.Gpu.Name);
        var cold = node?.ColdStart ?? new ColdStartSpec();
        _coldStartSeconds = cold.Seconds(deployment.Shard.WeightBytesPerGpu, cfg.WeightsFrom);
        if (policy is PredictiveAutoscaler p) p.LeadSeconds = _coldStartSeconds;
        // Start with the fewest instances the policy allows (at least one unless it may scale to zero), the rest parked.
        var initial = Math.Clamp(cfg.MinInstances, 0, instances.Length);
        for (var i = initial; i < instances.Length; i++) instances[i].Park(0);
        _lastCount = initial;
    }

    /// <summary>Seconds a cold start takes for this deployment.</summary>
    public double ColdStartSeconds => _coldStartSeconds;
    public IReadOnlyList<ScaleEvent> Events => _events;
    public string PolicyName => _policy.Name;

    /// <summary>Starts the decision clock.</summary>
    public void Start() => _env.ScheduleAt(_cfg.IntervalSeconds, this, Tick, priority: 2);

    /// <summary>Told about every arrival (for the rate and mean lengths the policies read).</summary>
    public void OnArrival(int input, int output)
    {
        _arrivals++;
        _inputSum += input;
        _outputSum += output;
    }

    /// <summary>No more arrivals: decisions stop after the next one.</summary>
    public void TraceDone() => _traceDone = true;

    /// <summary>An instance a request arriving now can go to when none is serving: the first waking, else one woken now.</summary>
    public int ColdTarget(double now)
    {
        var best = -1;
        for (var i = 0; i < _instances.Length; i++)
            if (_instances[i].State == InstanceState.Waking && (best < 0 || _instances[i].ReadyAt < _instances[best].ReadyAt)) best = i;
        if (best >= 0) return best;
        for (var i = 0; i < _instances.Length; i++)
            if (_instances[i].State == InstanceState.Draining) { _instances[i].Undrain(now); Count(now); return i; }
        for (var i = 0; i < _instances.Length; i++)
            if (_instances[i].State == InstanceState.Parked) { WakeOne(i, now); return i; }
        return 0;
    }

    public void OnEvent(SimEnvironment env, long arg)
    {
        var now = env.Now;
        if (arg >= 0)
        {
            // A cold start is over: the instance serves from now on.
            _instances[arg].MarkReady();
            _touched((int)arg, now);
            Count(now);
            return;
        }
        Decide(now);
        if (!_traceDone) env.ScheduleAt(now + _cfg.IntervalSeconds, this, Tick, priority: 2);
    }

    private void Decide(double now)
    {
        long inFlight = 0;
        double kv = 0;
        var current = 0;
        var serving = 0;
        for (var i = 0; i < _instances.Length; i++)
        {
            var inst = _instances[i];
            if (inst.State == InstanceState.Parked) continue;
            inst.AdvanceTo(now);
            _touched(i, now);
            if (inst.State == InstanceState.Draining && inst.Resident == 0)
            {
                inst.Park(Math.Min(now, Math.Max(inst.LastBusyEnd, DrainedAt(inst))));
                _touched(i, now);
                continue;
            }
            if (inst.State == InstanceState.Draining) continue;
            current++;
            inFlight += inst.Resident;
            if (inst.State == InstanceState.Serving) { serving++; kv += 1.0 - (double)inst.FreeBlocks / inst.TotalBlocks; }
        }
        var dt = Math.Max(1e-9, now - _lastTick);
        var rate = (_arrivals - _arrivalsAtLastTick) / dt;
        _arrivalsAtLastTick = _arrivals;
        _lastTick = now;
        var hour = ((_originMicros / 1e6 + now) / 3600.0 % 24 + 24) % 24;
        var signal = new AutoscaleSignal(now, hour, current, inFlight, serving > 0 ? kv / serving : 0, rate,
            _arrivals > 0 ? _inputSum / _arrivals : 0, _arrivals > 0 ? _outputSum / _arrivals : 0);
        var desired = Math.Clamp(_policy.Desired(signal), _cfg.MinInstances, _instances.Length);
        if (desired == current) return;
        _events.Add(new ScaleEvent(now, current, desired));
        if (desired > current) ScaleUp(desired - current, now);
        else ScaleDown(current - desired, now);
        Count(now);
    }

    private void ScaleUp(int n, double now)
    {
        // Draining instances come back first (no cold start), then parked ones wake.
        for (var i = 0; i < _instances.Length && n > 0; i++)
            if (_instances[i].State == InstanceState.Draining) { _instances[i].Undrain(now); _touched(i, now); n--; }
        for (var i = 0; i < _instances.Length && n > 0; i++)
            if (_instances[i].State == InstanceState.Parked) { WakeOne(i, now); n--; }
    }

    private void ScaleDown(int n, double now)
    {
        // The emptiest serving instances drain first, the highest index among equals; waking ones are left to finish.
        var order = Enumerable.Range(0, _instances.Length).Where(i => _instances[i].State == InstanceState.Serving)
            .OrderBy(i => _instances[i].Resident).ThenByDescending(i => i).Take(n).ToArray();
        foreach (var i in order)
        {
            _instances[i].Drain(now);
            _drainedAt[i] = now;
            if (_instances[i].Resident == 0) _instances[i].Park(Math.Max(now, _instances[i].LastBusyEnd));
            _touched(i, now);
        }
    }

    private readonly Dictionary<int, double> _drainedAt = [];
    private double DrainedAt(Instance inst) => _drainedAt.TryGetValue(inst.Index, out var t) ? t : 0;

    private void WakeOne(int i, double now)
    {
        _instances[i].Wake(now, _coldStartSeconds);
        _touched(i, now);
        _env.ScheduleAt(now + _coldStartSeconds, this, i, priority: 0);
    }

    // Time-weighted count of instances not parked, for the mean.
    private void Count(double now)
    {
        _weightedInstances += _lastCount * (now - _lastCountAt);
        _lastCountAt = now;
        _lastCount = _instances.Count(x => x.State != InstanceState.Parked);
    }

    /// <summary>Mean number of instances not parked over [0, <paramref name="end"/>].</summary>
    public double MeanInstances(double end)
    {
        var w = _weightedInstances + _lastCount * Math.Max(0, end - _lastCountAt);
        return end > 0 ? w / end : _lastCount;
    }
}
