using Joules.Profiles;
using Joules.Scheduling;

namespace Joules.Simulation.Engine;

/// <summary>
/// Splits an iteration's energy over its sequences by what each one causes, as the cost model sees it: a
/// sequence's weight is its marginal cost (the iteration's energy minus the energy of the same iteration
/// without it), and the weights are normalised so the shares add up to the iteration's energy exactly.
/// </summary>
/// <remarks>
/// A prefill chunk's marginal cost is priced directly. Decode steps are priced as one marginal decode at the
/// batch's mean context plus the slope of energy in context times each step's distance from that mean (two
/// extra estimates however many decodes ride along), so a decode that rides in a 512-token prefill iteration
/// pays what adding it costs, not 1/513 of the iteration. Where the cost model is not monotone and the
/// marginals vanish, shares fall back to token counts.
/// </remarks>
public sealed class EnergyAttribution
{
    /// <summary>Context step (tokens) of the finite difference for a decode's energy slope in its context.</summary>
    public const int ContextProbe = 64;

    private double[] _weights = new double[64];

    /// <summary>Whether to attribute by marginal cost (default) or by token share (each token of the iteration weighs the same).</summary>
    public bool Causal { get; init; } = true;

    /// <summary>Fills the share of the iteration's energy each entry of <paramref name="batch"/> is charged (summing to 1); returns the array (valid for batch.Count entries).</summary>
    public double[] Shares(ICostModel cost, ScheduledBatch batch, double totalJoules)
    {
        var n = batch.Count;
        if (_weights.Length < n) _weights = new double[Math.Max(n, _weights.Length * 2)];
        var w = _weights;
        if (n == 0) return w;
        if (n == 1) { w[0] = 1; return w; }
        var shape = batch.Shape;
        double sum = 0;
        if (Causal && totalJoules > 0)
        {
            double a = 0, g = 0, mean = 0;
            if (shape.DecodeSequences > 0)
            {
                mean = (double)shape.DecodeContextTokens / shape.DecodeSequences;
                var ctxMin = long.MaxValue;
                var ctxMax = long.MinValue;
                for (var i = 0; i < n; i++)
                {
                    if (!batch.IsDecode(i)) continue;
                    long c = batch.ContextBefore(i) + 1L;
                    ctxMin = Math.Min(ctxMin, c);
                    ctxMax = Math.Max(ctxMax, c);
                }
                a = totalJoules - Price(cost, WithoutDecode(shape, (long)Math.Round(mean)));
                if (ctxMax > ctxMin)
                    g = (Price(cost, shape with { DecodeContextTokens = shape.DecodeContextTokens + ContextProbe }) - totalJoules) / ContextProbe;
            }
            for (var i = 0; i < n; i++)
            {
                double m;
                if (batch.IsDecode(i)) m = a + g * (batch.ContextBefore(i) + 1.0 - mean);
                else m = totalJoules - Price(cost, WithoutPrefill(shape, batch.Tokens(i), batch.ContextBefore(i)));
                if (!(m > 0)) m = 0;
                w[i] = m;
                sum += m;
            }
        }
        if (!(sum > 0))
        {
            sum = 0;
            for (var i = 0; i < n; i++) sum += w[i] = batch.Tokens(i);
        }
        for (var i = 0; i < n; i++) w[i] /= sum;
        return w;
    }

    /// <summary>
    /// Relative weights (mean 1) of the sequences of a steady decode run, whose contexts differ by constant offsets:
    /// 1 + slope/marginal x (context - mean), evaluated at the run's middle step.
    /// </summary>
    public double Slope(ICostModel cost, int batch, long contextSumMid, out double marginal)
    {
        marginal = 0;
        if (!Causal || batch < 2) return 0;
        var shape = IterationShape.Decode(batch, 0) with { DecodeContextTokens = contextSumMid };
        var total = Price(cost, shape);
        var mean = (double)contextSumMid / batch;
        marginal = total - Price(cost, WithoutDecode(shape, (long)Math.Round(mean)));
        if (!(marginal > 0)) return 0;
        var g = (Price(cost, shape with { DecodeContextTokens = contextSumMid + ContextProbe }) - total) / ContextProbe;
        return g / marginal;
    }

    private static double Price(ICostModel cost, in IterationShape s) => s.IsEmpty ? 0 : cost.Estimate(s).Joules;

    /// <summary>The shape without one prefill chunk of <paramref name="tokens"/> new tokens over <paramref name="contextBefore"/> cached ones.</summary>
    public static IterationShape WithoutPrefill(in IterationShape s, int tokens, int contextBefore) => s with
    {
        PrefillSequences = s.PrefillSequences - 1,
        PrefillTokens = s.PrefillTokens - tokens,
        PrefillContextTokens = s.PrefillContextTokens - contextBefore,
        PrefillAttentionPairs = Math.Max(0, s.PrefillAttentionPairs - (tokens * (double)contextBefore + tokens * (tokens + 1.0) / 2.0)),
    };

    /// <summary>The shape without one decode whose context (its new token included) is <paramref name="context"/>.</summary>
    public static IterationShape WithoutDecode(in IterationShape s, long context) => s with
    {
        DecodeSequences = s.DecodeSequences - 1,
        DecodeContextTokens = Math.Max(0, s.DecodeContextTokens - context),
    };
}
