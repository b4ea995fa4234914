namespace Joules.Simulation.Engine;

/// <summary>Bins one instance's energy (busy iterations and idle gaps) into fixed-width time bins and hands each finished bin to the sink.</summary>
public sealed class PowerTimeline(int instance, double binSeconds, double idleWatts, ISimulationSink sink)
{
    private double _lastEnd;
    private long _bin;
    private double _binJoules;
    private double _binBusy;

    /// <summary>A busy interval [t0, t1] that used <paramref name="joules"/>; the idle gap before it is filled in.</summary>
    public void AddBusy(double t0, double t1, double joules)
    {
        if (t0 > _lastEnd) Spread(_lastEnd, t0, idleWatts * (t0 - _lastEnd), busy: false);
        Spread(t0, t1, joules, busy: true);
        _lastEnd = t1;
    }

    /// <summary>Closes the timeline at <paramref name="end"/> (idle after the last iteration) and emits the last bin.</summary>
    public void Finish(double end)
    {
        if (end > _lastEnd) Spread(_lastEnd, end, idleWatts * (end - _lastEnd), busy: false);
        _lastEnd = Math.Max(_lastEnd, end);
        var start = _bin * binSeconds;
        if (_binJoules > 0 || _lastEnd > start)
            sink.OnPower(new PowerSample(instance, start, Math.Max(start, Math.Min(_lastEnd, start + binSeconds)), _binJoules, _binBusy));
        _binJoules = 0;
        _binBusy = 0;
    }

    private void Spread(double t0, double t1, double joules, bool busy)
    {
        var span = t1 - t0;
        if (span <= 0) { _binJoules += joules; return; }
        var t = t0;
        while (t < t1)
        {
            var binEnd = (_bin + 1) * binSeconds;
            if (t >= binEnd)
            {
                sink.OnPower(new PowerSample(instance, _bin * binSeconds, binEnd, _binJoules, _binBusy));
                _bin++;
                _binJoules = 0;
                _binBusy = 0;
                continue;
            }
            var segEnd = Math.Min(t1, binEnd);
            var seg = segEnd - t;
            _binJoules += joules * (seg / span);
            if (busy) _binBusy += seg;
            t = segEnd;
        }
    }
}
