using Joules.Profiles;
using Joules.Profiles.Frequency;

namespace Joules.Simulation.Clocks;

/// <summary>A cost model that chooses its clock per iteration: the instance tells it when an iteration (or a decode run) starts and what it holds (<see cref="ITimedCostModel.BeginIteration"/>), and it chooses the clock there.</summary>
public interface IGovernedCostModel : ITimedCostModel, IDecodeRunCostModel
{
    /// <summary>The clock the last iteration was priced at, MHz.</summary>
    double CurrentClockMHz { get; }
}

/// <summary>Builds the per-instance governed cost models of a scenario from its <see cref="ClockSettings"/>.</summary>
public static class ClockGovernors
{
    /// <summary>
    /// A factory of per-instance cost models for <paramref name="settings"/>: the shared <paramref name="cost"/> itself for
    /// the default governor (a copy per instance of a measured host-time model), otherwise a governed model per instance over one clock-capable model (measured sweep or modelled).
    /// </summary>
    /// <returns>The factory and what the governor adds to the cost model's name in reports (empty for the default governor), e.g. " @ fixed 1600 MHz (modelled)".</returns>
    public static (Func<ICostModel> Create, string NameSuffix) Factory(ClockSettings settings, ICostModel cost, SloConfig slo)
    {
        ArgumentNullException.ThrowIfNull(settings);
        settings.Validate();
        // A measured host-time model holds the host time of the iteration its instance began last: one per instance.
        if (settings.IsDefault)
        {
            Func<ICostModel> same = cost is MeasuredHostTimeCostModel m ? m.Copy : () => cost;
            return (same, "");
        }
        var clocked = ClockedCostModels.For(cost);
        var max = clocked.MaxClockMHz;
        void Check(double mhz, string what)
        {
            if (mhz > max + 1e-9)
                throw new ArgumentException($"{what} {mhz:0.#} MHz is above the {cost.Gpu.Name}'s highest SM clock of {max:0.#} MHz");
        }
        switch (settings.Governor)
        {
            case ClockGovernorKind.Fixed: Check(settings.FixedMHz!.Value, "sm-clock"); break;
            case ClockGovernorKind.PerPhase:
                Check(settings.DecodeMHz, "decode-clock");
                if (settings.PrefillMHz is { } p) Check(p, "prefill-clock");
                break;
            case ClockGovernorKind.SloAware: Check(settings.MinMHz, "min-clock"); break;
        }
        var suffix = $" @ {settings.Describe(max)} ({clocked.Basis})";
        return (() => new GovernedCostModel(clocked, settings, slo, cost.Name + suffix), suffix);
    }
}

/// <summary>One instance's cost model under a clock governor: chooses the clock when an iteration begins and prices at it.</summary>
public sealed class GovernedCostModel : IGovernedCostModel
{
    private readonly IClockedCostModel _model;
    private readonly ClockSettings _s;
    private readonly double _targetSeconds;
    private readonly double[] _candidates;
    private double _clock;
    private double _windowEnd = double.NegativeInfinity;

    public GovernedCostModel(IClockedCostModel model, ClockSettings settings, SloConfig slo, string name)
    {
        _model = model;
        _s = settings;
        Name = name;
        _targetSeconds = settings.SloMargin * slo.TpotSeconds;
        var max = model.MaxClockMHz;
        var list = new List<double>();
        for (var f = Math.Min(settings.MinMHz, max); f < max - 1e-9; f += settings.StepMHz) list.Add(f);
        list.Add(max);
        _candidates = list.ToArray();
        _clock = settings.Governor switch
        {
            ClockGovernorKind.Fixed => settings.FixedMHz!.Value,
            ClockGovernorKind.PerPhase => settings.PrefillMHz ?? max,
            _ => max,
        };
    }

    public string Name { get; }
    public GpuSpec Gpu => _model.Gpu;
    public ModelCard Model => _model.Model;
    public int TensorParallel => _model.TensorParallel;
    public double IdleWatts => _model.IdleWatts;
    public double CurrentClockMHz => _clock;
    /// <summary>The clock-capable model it prices with.</summary>
    public IClockedCostModel Clocked => _model;

    public void BeginIteration(double now, in IterationShape shape)
    {
        switch (_s.Governor)
        {
            case ClockGovernorKind.PerPhase:
                _clock = shape.PrefillSequences > 0 ? _s.PrefillMHz ?? _model.MaxClockMHz : _s.DecodeMHz;
                break;
            case ClockGovernorKind.SloAware:
                if (now >= _windowEnd)
                {
                    _clock = Lowest(shape, 0);
                    _windowEnd = now + _s.WindowSeconds;
                }
                else if (_model.Estimate(shape, _clock).Seconds > _targetSeconds)
                    _clock = Lowest(shape, Array.IndexOf(_candidates, _clock));
                break;
        }
    }

    // The lowest candidate clock from index `from` whose predicted time meets the target, or the highest when none does.
    // Time falls as the clock rises, so a bisection finds it.
    private double Lowest(in IterationShape shape, int from)
    {
        int lo = Math.Max(0, from), hi = _candidates.Length - 1;
        if (_model.Estimate(shape, _candidates[hi]).Seconds > _targetSeconds) return _candidates[hi];
        while (lo < hi)
        {
            var mid = (lo + hi) / 2;
            if (_model.Estimate(shape, _candidates[mid]).Seconds <= _targetSeconds) hi = mid; else lo = mid + 1;
        }
        return _candidates[lo];
    }

    public IterationCost Estimate(in IterationShape shape) => _model.Estimate(shape, _clock);

    public IterationCost EstimateDecodeRun(int batch, long contextSum, long steps) => _model.EstimateDecodeRun(batch, contextSum, steps, _clock);
}
