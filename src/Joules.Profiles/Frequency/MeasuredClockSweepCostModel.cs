using Joules.Profiles.Measured;

namespace Joules.Profiles.Frequency;

/// <summary>
/// Prices iterations at a locked SM clock from a profile measured with `joules calibrate --sm-clocks`: one
/// <see cref="ProfileCostModel"/> per measured clock, linear interpolation in the clock between the two measured
/// clocks around a request, the nearest measured clock beyond them. Outputs call it "measured".
/// </summary>
public sealed class MeasuredClockSweepCostModel : IClockedCostModel
{
    private readonly ProfileCostModel _default;
    private readonly (double MHz, ProfileCostModel Model)[] _clocks;

    /// <param name="profile">The cost model of the profile at its default clock (or its first clock when it has no default-clock points).</param>
    public MeasuredClockSweepCostModel(ProfileCostModel profile)
    {
        ArgumentNullException.ThrowIfNull(profile);
        if (!HasSweep(profile.Profile))
            throw new ArgumentException("the profile holds no measured clock sweep (no point has an SM clock target); use the modelled frequency scaling");
        _default = profile;
        _clocks = profile.Profile.ClockTargets.Where(c => c is not null)
            .Select(c => ((double)c!.Value, c == profile.SmClockTarget ? profile : new ProfileCostModel(profile.Profile, profile.Gpu, c)))
            .OrderBy(c => c.Item1).ToArray();
        MaxClockMHz = Math.Max(profile.Gpu.MaxSmClockMHz, _clocks[^1].MHz);
    }

    /// <summary>Whether a profile holds points measured at locked clocks.</summary>
    public static bool HasSweep(MeasuredProfile profile) => profile.ClockTargets.Any(c => c is not null);

    /// <summary>The measured clocks, MHz, ascending.</summary>
    public IReadOnlyList<double> MeasuredClocks => _clocks.Select(c => c.MHz).ToArray();

    public ICostModel Inner => _default;
    public string Basis => "measured";
    public double MaxClockMHz { get; }
    public string Name => _default.Name;
    public GpuSpec Gpu => _default.Gpu;
    public ModelCard Model => _default.Model;
    public int TensorParallel => _default.TensorParallel;
    public double IdleWatts => _default.IdleWatts;

    public IterationCost Estimate(in IterationShape shape) => _default.Estimate(shape);
    public IterationCost EstimateDecodeRun(int batch, long contextSum, long steps) => _default.EstimateDecodeRun(batch, contextSum, steps);

    public IterationCost Estimate(in IterationShape shape, double clockMHz)
    {
        var s = shape;
        return Blend(clockMHz, m => m.Estimate(s));
    }

    public IterationCost EstimateDecodeRun(int batch, long contextSum, long steps, double clockMHz) =>
        Blend(clockMHz, m => m.EstimateDecodeRun(batch, contextSum, steps));

    public double EffectiveClockMHz(in IterationShape shape, double clockMHz) => Math.Clamp(clockMHz, _clocks[0].MHz, Math.Min(MaxClockMHz, _clocks[^1].MHz));

    private IterationCost Blend(double clockMHz, Func<ProfileCostModel, IterationCost> price)
    {
        if (!(clockMHz > 0)) throw new ArgumentException($"an SM clock must be a positive number of MHz, got {clockMHz}");
        if (clockMHz <= _clocks[0].MHz) return price(_clocks[0].Model);
        if (clockMHz >= _clocks[^1].MHz) return price(_clocks[^1].Model);
        var i = 1;
        while (_clocks[i].MHz < clockMHz) i++;
        var (f0, m0) = _clocks[i - 1];
        var (f1, m1) = _clocks[i];
        var (a, b) = (price(m0), price(m1));
        var w = (clockMHz - f0) / (f1 - f0);
        return new IterationCost(a.Seconds + w * (b.Seconds - a.Seconds), a.Joules + w * (b.Joules - a.Joules));
    }
}
