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
    private double[] _prefill = new double[16];

    /// <summary>Whether to attribute by marginal cost (default) or by token share (each token of the iteration weighs the same).</summary>
    public bool Causal { get; init; } = true;

    /// <summary>
    /// How one iteration's energy splits over its entries, prepared once per iteration so that the per-entry weight is a
    /// few arithmetic operations: a decode's marginal is linear in its context, so the decodes' sum is known in closed form
    /// and only prefill chunks are priced one by one. Valid until the next <see cref="Prepare"/>.
    /// </summary>
    public readonly struct Weighting
    {
        internal Weighting(bool byTokens, double a, double g, double mean, double scale, double[] prefill, bool cohortScanned)
        {
            ByTokens = byTokens; A = a; G = g; Mean = mean; Scale = scale; Prefill = prefill; CohortScanned = cohortScanned;
        }

        internal bool ByTokens { get; }
        internal double A { get; }
        internal double G { get; }
        internal double Mean { get; }
        internal double Scale { get; }
        internal double[] Prefill { get; }
        /// <summary>Whether some decode's marginal may be clamped at zero, so cohort members must be charged one by one (<see cref="DecodeShare"/>).</summary>
        public bool CohortScanned { get; }

        /// <summary>The share (of 1) of the iteration's energy entry <paramref name="e"/> of <paramref name="batch"/> is charged.</summary>
        public double Share(ScheduledBatch batch, int e)
        {
            if (ByTokens) return batch.Tokens(e) * Scale;
            if (!batch.IsDecode(e)) return Prefill[e] * Scale;
            return DecodeShare(batch.ContextBefore(e) + 1L);
        }

        /// <summary>The share of a decode whose context (its new token included) is <paramref name="context"/>.</summary>
        public double DecodeShare(long context)
        {
            if (ByTokens) return Scale;
            var m = A + G * (context - Mean);
            return m > 0 ? m * Scale : 0;
        }

        /// <summary>A cohort member's share as p + q x context when no marginal is clamped (<see cref="CohortScanned"/> false).</summary>
        public (double P, double Q) CohortLine => ByTokens ? (Scale, 0) : ((A - G * Mean) * Scale, G * Scale);
    }

    /// <summary>Prepares the split of <paramref name="totalJoules"/> over <paramref name="batch"/>'s entries and decode cohort (see <see cref="Weighting"/>); <paramref name="cohort"/> lists the members when their contexts must be read one by one.</summary>
    public Weighting Prepare(ICostModel cost, ScheduledBatch batch, double totalJoules, ContinuousScheduler? cohort = null)
    {
        var n = batch.Count;
        var members = batch.CohortSize;
        if (n + members <= 1 || !Causal || !(totalJoules > 0)) return ByTokens(batch);
        if (_prefill.Length < n) _prefill = new double[Math.Max(n, _prefill.Length * 2)];
        var shape = batch.Shape;
        double a = 0, g = 0, mean = 0, sum = 0;
        var decodes = batch.DecodeEntries + members;
        var scanned = false;
        if (decodes > 0)
        {
            mean = (double)shape.DecodeContextTokens / shape.DecodeSequences;
            a = totalJoules - Price(cost, WithoutDecode(shape, (long)Math.Round(mean)));
            var ctxMin = batch.DecodeContextMin;
            var ctxMax = batch.DecodeContextMax;
            if (members > 0)
            {
                ctxMin = Math.Min(ctxMin, batch.CohortContextMin);
                ctxMax = Math.Max(ctxMax, batch.CohortContextMax);
            }
            // Padding (static batching) is in the mean but is not an entry: only the entries' range decides whether a slope is needed.
            if (ctxMax > ctxMin)
                g = (Price(cost, shape with { DecodeContextTokens = shape.DecodeContextTokens + ContextProbe }) - totalJoules) / ContextProbe;
            // Unclamped, the decodes' marginals sum to decodes x a + g x (their contexts - decodes x mean). Where the
            // smallest could fall to zero, sum them one by one with the clamp.
            var lowest = a + g * ((g >= 0 ? ctxMin : ctxMax) - mean);
            if (lowest > 0) sum += decodes * a + g * (batch.DecodeEntryContext + batch.CohortContext - decodes * mean);
            else
            {
                for (var i = 0; i < n; i++)
                {
                    if (!batch.IsDecode(i)) continue;
                    var m = a + g * (batch.ContextBefore(i) + 1.0 - mean);
                    if (m > 0) sum += m;
                }
                if (members > 0)
                {
                    if (cohort is null) throw new ArgumentException("a batch with a decode cohort needs its scheduler to be attributed", nameof(cohort));
                    scanned = true;
                    for (var i = 0; i < cohort.RunningEntries; i++)
                    {
                        if (!cohort.TryGetRunning(i, out _, out var computed, out var inCohort) || !inCohort) continue;
                        var m = a + g * (computed + 1.0 - mean);
                        if (m > 0) sum += m;
                    }
                }
            }
        }
        for (var k = 0; k < batch.PrefillEntryCount; k++)
        {
            var e = batch.PrefillEntry(k);
            var m = totalJoules - Price(cost, WithoutPrefill(shape, batch.Tokens(e), batch.ContextBefore(e)));
            if (!(m > 0)) m = 0;
            _prefill[e] = m;
            sum += m;
        }
        return sum > 0 ? new Weighting(false, a, g, mean, 1 / sum, _prefill, scanned) : ByTokens(batch);
    }

    private Weighting ByTokens(ScheduledBatch batch) =>
        new(true, 0, 0, 0, batch.TotalTokens > 0 ? 1.0 / batch.TotalTokens : 0, _prefill, false);

    /// <summary>Fills the share of the iteration's energy each entry of <paramref name="batch"/> is charged (summing to 1); returns the array (valid for batch.Count entries).</summary>
    public double[] Shares(ICostModel cost, ScheduledBatch batch, double totalJoules)
    {
        var n = batch.Count;
        if (_weights.Length < n) _weights = new double[Math.Max(n, _weights.Length * 2)];
        var weighting = Prepare(cost, batch, totalJoules);
        for (var i = 0; i < n; i++) _weights[i] = weighting.Share(batch, i);
        return _weights;
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
