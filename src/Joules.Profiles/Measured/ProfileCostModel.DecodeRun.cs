namespace Joules.Profiles.Measured;

public sealed partial class ProfileCostModel
{
    // Plans by (batch, context sum mod batch): a later run of the same sequences (same batch, contexts grown by whole
    // steps) is a suffix of an earlier plan, so a run cut at every arrival is planned once. A router that changes the
    // batch at every arrival re-plans each time, so a plan's storage is reused rather than allocated (it was 1.4 kB per
    // request on a week's trace); that makes plans mutable, so each thread keeps its own cache (`joules plan` prices
    // configurations in parallel over one cost model), keyed by the model that made them (a thread's cache keeps at most
    // 256 plans, and so the models it last used, alive).
    [ThreadStatic] private static DecodeRunPlan[]? t_plans;

    /// <summary>Closed form of a run of decode steps, equal to the sum of <see cref="Estimate"/> over its steps to rounding.</summary>
    /// <remarks>
    /// At a fixed batch the estimate is linear in context between the grid's measured contexts (bilinear
    /// interpolation at fixed batch; beyond the grid the fit, linear in decode context, plus a constant edge
    /// residual). So the run is cut at every measured context and where the measured range ends, each piece
    /// is checked to be linear from five evaluations (a piece that is not, e.g. where the fit's floor binds,
    /// is summed step by step), split where the power cap starts or stops binding, and summed as arithmetic
    /// series. The all-reduce energy of a step is its time at the step's mean power e/t: over an uncapped
    /// piece that is a sum of (e0 + eb x) / (t0 + tb x), a harmonic sum (<see cref="HarmonicSum"/>); over a
    /// capped piece the power is the cap. The pricing class is the worst over the run.
    /// </remarks>
    public IterationCost EstimateDecodeRun(int batch, long contextSum, long steps)
    {
        if (steps <= 0 || batch <= 0) return default;
        var slot = (int)((uint)(batch * 31 + (int)(contextSum % batch)) & 255);
        var plans = t_plans ??= new DecodeRunPlan[256];
        var plan = plans[slot] ??= new DecodeRunPlan();
        var reusable = plan.Owner == this && plan.Batch == batch && contextSum >= plan.ContextSum && (contextSum - plan.ContextSum) % batch == 0;
        var offset = reusable ? (contextSum - plan.ContextSum) / batch : 0;
        if (!reusable || offset + steps > plan.Covered)
        {
            PlanDecodeRun(plan, batch, contextSum, steps);
            offset = 0;
        }
        var start = offset;
        var end = offset + steps;
        var tc = _comm?.Seconds(batch) ?? 0;
        double seconds = 0, joules = 0, commJoules = 0;
        var pricing = PricingClass.Model;
        var pieces = plan.Pieces;
        for (var k = 0; k < plan.Count; k++)
        {
            ref readonly var piece = ref pieces[k];
            if (piece.To <= start) continue;
            if (piece.From >= end) break;
            var from = Math.Max(piece.From, start);
            var to = Math.Min(piece.To, end);
            pricing = PricingClasses.Worse(pricing, piece.Pricing);
            if (piece.Closed)
            {
                // The piece's line from its own first step: t = T0 + TB x; this part starts x0 steps in.
                double n = to - from, x0 = from - piece.From;
                double t0 = piece.T0 + piece.TB * x0, e0 = piece.E0 + piece.EB * x0;
                var s1 = n * (n - 1) / 2;
                seconds += n * t0 + piece.TB * s1;
                joules += n * e0 + piece.EB * s1;
                if (tc > 0) commJoules += tc * (piece.Capped ? _capWatts * n : PowerSum(t0, piece.TB, e0, piece.EB, n));
            }
            else
            {
                for (var j = from; j < to; j++)
                {
                    var (t, e, p) = EstimatePerGpu(DecodeStep(batch, plan.ContextSum, j));
                    seconds += t;
                    joules += e;
                    commJoules += e / t * tc;
                    pricing = PricingClasses.Worse(pricing, p);
                }
            }
        }
        return new IterationCost(seconds + steps * tc, (joules + commJoules) * TensorParallel)
        {
            CommSeconds = steps * tc,
            CommJoules = commJoules * TensorParallel,
            Pricing = pricing,
        };
    }

    /// <summary>A decode run cut where the estimate's formula changes, each piece linear in the step index where it checks out; refilled in place when re-planned.</summary>
    private sealed class DecodeRunPlan
    {
        public ProfileCostModel? Owner;
        public int Batch;
        public long ContextSum;
        public long Covered;
        public DecodeRunPiece[] Pieces = new DecodeRunPiece[16];
        public int Count;

        public void Add(in DecodeRunPiece piece)
        {
            if (Count == Pieces.Length) Array.Resize(ref Pieces, Count * 2);
            Pieces[Count++] = piece;
        }
    }

    /// <summary>Steps [From, To) of a run; when Closed, one GPU's time is T0 + TB x and energy E0 + EB x (x = step - From), power-capped when Capped.</summary>
    private readonly record struct DecodeRunPiece(long From, long To, bool Closed, bool Capped, double T0, double TB, double E0, double EB, PricingClass Pricing);

    private static IterationShape DecodeStep(int batch, long contextSum, long j) =>
        IterationShape.Decode(batch, 0) with { DecodeContextTokens = contextSum + (long)batch * j };

    private void PlanDecodeRun(DecodeRunPlan plan, int batch, long contextSum, long steps)
    {
        plan.Owner = null; // not valid until filled
        plan.Count = 0;
        var y0 = (double)contextSum / batch;
        // Planned once per run start, so per simulated arrival: the cut list lives on the stack.
        Span<long> cuts = stackalloc long[2 * (_decode?.Ys.Count ?? 0) + 3];
        var count = 0;
        cuts[count++] = 0;
        cuts[count++] = steps;
        if (_decode is not null)
            foreach (var g in _decode.Ys)
            {
                var j = (long)Math.Ceiling(g - y0);
                if (j > 0 && j < steps) cuts[count++] = j;
                // The step exactly on a measured context is its own piece: it is priced exact, its neighbours interpolated.
                if (y0 + j == g && j + 1 > 0 && j + 1 < steps) cuts[count++] = j + 1;
            }
        // Past the most context any point measured, steps are extrapolated.
        var edge = (long)Math.Floor(Range.MaxDecodeContextPerSequence - y0) + 1;
        if (edge > 0 && edge < steps) cuts[count++] = edge;
        cuts = cuts[..count];
        cuts.Sort();
        for (var i = 0; i + 1 < cuts.Length; i++)
        {
            long from = cuts[i], to = cuts[i + 1], n = to - from;
            if (n == 0) continue;
            var (t0, e0, pricing) = Shard(DecodeStep(batch, contextSum, from));
            if (n < 5 || !Linear(batch, contextSum, from, n, t0, e0, out var tb, out var eb))
            {
                plan.Add(new DecodeRunPiece(from, to, false, false, 0, 0, 0, 0, pricing));
                continue;
            }
            // Capped where e / cap > t: d(x) = (e0 + eb x) / cap - (t0 + tb x) is linear, so it changes sign at most once.
            double d0 = e0 / _capWatts - t0, db = eb / _capWatts - tb;
            var dLast = d0 + db * (n - 1);
            long split = d0 > 0 == dLast > 0 ? n : Math.Clamp((long)Math.Floor(-d0 / db) + 1, 1, n - 1);
            AddPiece(plan, from, from + split, d0 > 0, t0, tb, e0, eb, pricing);
            if (split < n) AddPiece(plan, from + split, to, dLast > 0, t0 + tb * split, tb, e0 + eb * split, eb, pricing);
        }
        plan.Batch = batch;
        plan.ContextSum = contextSum;
        plan.Covered = steps;
        plan.Owner = this;
    }

    private void AddPiece(DecodeRunPlan plan, long from, long to, bool capped, double t0, double tb, double e0, double eb, PricingClass pricing) =>
        plan.Add(capped
            ? new DecodeRunPiece(from, to, true, true, e0 / _capWatts, eb / _capWatts, e0, eb, pricing)
            : new DecodeRunPiece(from, to, true, false, t0, tb, e0, eb, pricing));

    // Whether uncapped time and energy are linear over the piece: the line through its first and last steps must hit three steps between.
    private bool Linear(int batch, long contextSum, long from, long n, double t0, double e0, out double tb, out double eb)
    {
        long p = n - 1;
        var (tp, ep, _) = Shard(DecodeStep(batch, contextSum, from + p));
        tb = (tp - t0) / p;
        eb = (ep - e0) / p;
        double tolT = 1e-11 * Math.Max(Math.Abs(t0), Math.Abs(tp)), tolE = 1e-11 * Math.Max(Math.Abs(e0), Math.Abs(ep));
        bool On(long x, double slopeT, double slopeE)
        {
            var (t, e, _) = Shard(DecodeStep(batch, contextSum, from + x));
            return Math.Abs(t0 + slopeT * x - t) <= tolT && Math.Abs(e0 + slopeE * x - e) <= tolE;
        }
        return On(p / 4, tb, eb) && On(p / 2, tb, eb) && On(3 * p / 4, tb, eb);
    }

    /// <summary>Sum over x in [0, n) of (e0 + eb x) / (t0 + tb x): a piece's mean power summed over its steps.</summary>
    private static double PowerSum(double t0, double tb, double e0, double eb, double n)
    {
        var eps = tb / t0;
        if (Math.Abs(eps) * n < 1e-9)
        {
            // Time nearly constant: expand 1 / (1 + eps x) to second order (the error, (eps n)^3, is below 1e-27).
            double s1 = n * (n - 1) / 2, s2 = (n - 1) * n * (2 * n - 1) / 6, s3 = s1 * s1;
            return (e0 * (n - eps * s1 + eps * eps * s2) + eb * (s1 - eps * s2 + eps * eps * s3)) / t0;
        }
        var ratio = eb / tb;
        return ratio * n + (e0 - ratio * t0) / tb * HarmonicSum.Sum(t0 / tb, (long)n);
    }
}
