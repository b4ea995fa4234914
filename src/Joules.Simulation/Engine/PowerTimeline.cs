namespace Joules.Simulation.Engine;

/// <summary>What an instance draws between iterations.</summary>
public enum PowerLevel : byte { Idle, Parked, Waking }

/// <summary>
/// Bins one instance's energy into fixed-width time bins and hands each finished bin to the sink: busy iterations
/// at the energy the cost model gave them, and the gaps between at the power of the instance's state (idle,
/// parked, waking), whose changes may be announced ahead (a cold start's end).
/// </summary>
public sealed class PowerTimeline(int instance, double binSeconds, double idleWatts, ISimulationSink sink)
{
    private double _lastEnd;
    private long _bin;
    private double _binJoules;
    private double _binBusy;
    private double _binParked;
    private double _binWaking;
    private double _level = idleWatts;
    private PowerLevel _kind = PowerLevel.Idle;
    private readonly Queue<(double T, double Watts, PowerLevel Kind)> _changes = new();

    /// <summary>From <paramref name="t"/> on, gaps draw <paramref name="watts"/> (changes must come in time order).</summary>
    public void SetLevel(double t, double watts, PowerLevel kind) => _changes.Enqueue((Math.Max(t, _lastEnd), watts, kind));

    /// <summary>A busy interval [t0, t1] that used <paramref name="joules"/>; the gap before it is filled in.</summary>
    public void AddBusy(double t0, double t1, double joules)
    {
        if (t0 > _lastEnd) Gap(_lastEnd, t0);
        Spread(t0, t1, joules, Kind.Busy);
        _lastEnd = t1;
    }

    /// <summary>Closes the timeline at <paramref name="end"/> (the gap after the last iteration) and emits the last bin.</summary>
    public void Finish(double end)
    {
        if (end > _lastEnd) Gap(_lastEnd, end);
        _lastEnd = Math.Max(_lastEnd, end);
        var start = _bin * binSeconds;
        if (_binJoules > 0 || _lastEnd > start)
            sink.OnPower(new PowerSample(instance, start, Math.Max(start, Math.Min(_lastEnd, start + binSeconds)), _binJoules, _binBusy, _binParked, _binWaking));
        _binJoules = _binBusy = _binParked = _binWaking = 0;
    }

    private enum Kind { Busy, Idle, Parked, Waking }

    private void Gap(double a, double b)
    {
        while (_changes.Count > 0 && _changes.Peek().T < b)
        {
            var c = _changes.Dequeue();
            if (c.T > a)
            {
                Spread(a, c.T, _level * (c.T - a), Current);
                a = c.T;
            }
            _level = c.Watts;
            _kind = c.Kind;
        }
        Spread(a, b, _level * (b - a), Current);
        _lastEnd = b;
    }

    private Kind Current => _kind switch { PowerLevel.Parked => Kind.Parked, PowerLevel.Waking => Kind.Waking, _ => Kind.Idle };

    private void Spread(double t0, double t1, double joules, Kind kind)
    {
        var span = t1 - t0;
        if (span <= 0) { _binJoules += joules; return; }
        var t = t0;
        while (t < t1)
        {
            var binEnd = (_bin + 1) * binSeconds;
            if (t >= binEnd)
            {
                sink.OnPower(new PowerSample(instance, _bin * binSeconds, binEnd, _binJoules, _binBusy, _binParked, _binWaking));
                _bin++;
                _binJoules = _binBusy = _binParked = _binWaking = 0;
                continue;
            }
            var segEnd = Math.Min(t1, binEnd);
            var seg = segEnd - t;
            _binJoules += joules * (seg / span);
            switch (kind)
            {
                case Kind.Busy: _binBusy += seg; break;
                case Kind.Parked: _binParked += seg; break;
                case Kind.Waking: _binWaking += seg; break;
            }
            t = segEnd;
        }
    }
}
