using Joules.Profiles;
using Joules.Profiles.Roofline;

namespace Joules.Simulation;

/// <summary>
/// A cost model plus a fixed host time per iteration: what a real server spends between two iterations (scheduling,
/// copying the sampled tokens back, launching) and a measured profile does not hold, since the calibration replays
/// iterations back to back. The GPU waits through it at the inner model's idle power.
/// </summary>
public class HostOverheadCostModel : ICostModel
{
    protected HostOverheadCostModel(ICostModel inner, double seconds)
    {
        if (!(seconds >= 0) || !double.IsFinite(seconds)) throw new ArgumentException($"iteration-overhead-ms must not be negative, got {seconds * 1000}");
        Inner = inner;
        OverheadSeconds = seconds;
    }

    /// <summary><paramref name="inner"/> itself when <paramref name="seconds"/> is 0, else it with the overhead (keeping its closed-form decode runs when it has them).</summary>
    public static ICostModel Wrap(ICostModel inner, double seconds) =>
        seconds == 0 ? inner : inner is IDecodeRunCostModel ? new WithRuns(inner, seconds) : new HostOverheadCostModel(inner, seconds);

    public ICostModel Inner { get; }
    public double OverheadSeconds { get; }
    public string Name => $"{Inner.Name} + {OverheadSeconds * 1000:0.###} ms/iteration host";
    public GpuSpec Gpu => Inner.Gpu;
    public ModelCard Model => Inner.Model;
    public int TensorParallel => Inner.TensorParallel;
    public double IdleWatts => Inner.IdleWatts;

    public IterationCost Estimate(in IterationShape shape)
    {
        var c = Inner.Estimate(shape);
        // Communication and pricing class stay the inner model's.
        return c with { Seconds = c.Seconds + OverheadSeconds, Joules = c.Joules + OverheadSeconds * Inner.IdleWatts };
    }

    private sealed class WithRuns(ICostModel inner, double seconds) : HostOverheadCostModel(inner, seconds), IDecodeRunCostModel
    {
        public IterationCost EstimateDecodeRun(int batch, long contextSum, long steps)
        {
            var c = ((IDecodeRunCostModel)Inner).EstimateDecodeRun(batch, contextSum, steps);
            return c with { Seconds = c.Seconds + steps * OverheadSeconds, Joules = c.Joules + steps * OverheadSeconds * Inner.IdleWatts };
        }
    }
}
