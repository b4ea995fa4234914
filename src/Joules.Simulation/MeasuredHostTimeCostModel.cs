using Joules.Profiles;

namespace Joules.Simulation;

/// <summary>A cost model that the instance tells when each iteration (or a decode run starting with it) begins, before it prices that iteration.</summary>
public interface ITimedCostModel : ICostModel
{
    /// <summary>An iteration of <paramref name="shape"/> begins at <paramref name="now"/> (simulated seconds): what is priced next is for it.</summary>
    void BeginIteration(double now, in IterationShape shape);
}

/// <summary>
/// The host time a measured server spent on each of its iterations, placed on the simulation's clock: iteration j's
/// period begins at <c>Starts[j]</c> (where the previous engine call ended, or where the loop woke after an idle wait),
/// its engine call ends at <c>Ends[j]</c>, and it cost <c>Seconds[j]</c> of host time beyond the device.
/// </summary>
public sealed class HostTimeSeries
{
    private readonly double[] _starts;
    private readonly double[] _ends;
    private readonly double[] _seconds;

    /// <param name="starts">Period starts, non-decreasing, simulated seconds.</param>
    /// <param name="ends">Engine-call ends, each at or after its start.</param>
    /// <param name="seconds">Host seconds of each iteration, finite and not negative.</param>
    public HostTimeSeries(double[] starts, double[] ends, double[] seconds)
    {
        if (starts.Length == 0 || starts.Length != ends.Length || starts.Length != seconds.Length)
            throw new ArgumentException($"a host-time series needs one start, end and host time per iteration and at least one iteration (got {starts.Length}, {ends.Length}, {seconds.Length})");
        for (var j = 0; j < starts.Length; j++)
        {
            if (!double.IsFinite(starts[j]) || !double.IsFinite(ends[j]) || ends[j] < starts[j] || (j > 0 && starts[j] < starts[j - 1]))
                throw new ArgumentException($"host-time series: iteration {j} spans [{starts[j]}, {ends[j]}] s, not a non-decreasing sequence of periods");
            if (!(seconds[j] >= 0) || !double.IsFinite(seconds[j]))
                throw new ArgumentException($"host-time series: iteration {j} has host time {seconds[j]} s (must be finite and not negative)");
        }
        _starts = starts;
        _ends = ends;
        _seconds = seconds;
        TotalSeconds = seconds.Sum();
    }

    public int Count => _seconds.Length;
    public double TotalSeconds { get; }
    public double MeanSeconds => TotalSeconds / Count;

    /// <summary>
    /// The host time of an iteration that begins at <paramref name="t"/>: that of the measured iteration whose period
    /// holds <paramref name="t"/>; between a measured iteration's end and the next one's period (the server idled, or
    /// the two timelines are a little out of phase), the nearer of the two; before the first or after the last, that one.
    /// </summary>
    public double At(double t)
    {
        // The last period that began at or before t.
        var j = Array.BinarySearch(_starts, t);
        if (j < 0) j = ~j - 1;
        else while (j + 1 < _starts.Length && _starts[j + 1] == t) j++;
        if (j < 0) return _seconds[0];
        if (j == _starts.Length - 1 || t <= _ends[j]) return _seconds[j];
        return t - _ends[j] <= _starts[j + 1] - t ? _seconds[j] : _seconds[j + 1];
    }
}

/// <summary>
/// A cost model plus the host time a measured server spent on each iteration (<see cref="HostTimeSeries"/>), where
/// <see cref="HostOverheadCostModel"/> adds one mean to all: each simulated iteration pays the host time of the measured
/// iteration that ran at the same moment of the run, at the inner model's idle power. Host time on a loaded machine is
/// mostly the wake-up latency of a preempted thread, which comes and goes with the other work on the machine, i.e. with
/// wall-clock time; and where it is the server's own per-iteration work (scheduling, streaming), the iteration that ran
/// at the same moment held about the same batch. Matching by time rather than by iteration index keeps the two aligned
/// when the simulation runs a few iterations more or fewer than the server did (an index would drift by every one of
/// them), and makes the price a function of the start time only: a start priced twice (a decode run cut at a horizon
/// and resumed) gets the same host time both times. No decode-run closed form: host time differs step by step, so the
/// instance prices each step of a steady decode phase and tells this model when it begins.
/// </summary>
public sealed class MeasuredHostTimeCostModel : ITimedCostModel
{
    private double _current;

    /// <param name="inner">Prices the device part of each iteration.</param>
    /// <param name="series">Measured host time per iteration on the simulation's clock.</param>
    public MeasuredHostTimeCostModel(ICostModel inner, HostTimeSeries series)
    {
        Inner = inner;
        Series = series;
        _current = series.At(0);
    }

    public ICostModel Inner { get; }
    public HostTimeSeries Series { get; }
    public string Name => $"{Inner.Name} + {Series.MeanSeconds * 1000:0.###} ms/iteration host (mean; measured per iteration)";
    public GpuSpec Gpu => Inner.Gpu;
    public ModelCard Model => Inner.Model;
    public int TensorParallel => Inner.TensorParallel;
    public double IdleWatts => Inner.IdleWatts;

    /// <summary>The same series over the same inner model with a cursor of its own (one per instance: the cursor is the instance's clock).</summary>
    public MeasuredHostTimeCostModel Copy() => new(Inner, Series);

    public void BeginIteration(double now, in IterationShape shape) => _current = Series.At(now);

    public IterationCost Estimate(in IterationShape shape)
    {
        var c = Inner.Estimate(shape);
        // Communication and pricing class stay the inner model's; the GPU waits through the host time at idle power.
        return c with { Seconds = c.Seconds + _current, Joules = c.Joules + _current * Inner.IdleWatts };
    }
}
