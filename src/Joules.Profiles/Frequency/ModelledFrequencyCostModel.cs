using Joules.Profiles.Measured;
using Joules.Profiles.Roofline;

namespace Joules.Profiles.Frequency;

/// <summary>
/// The modelled frequency scaling: prices an iteration at a locked SM clock from what a cost model says at the card's
/// own clock, by splitting the iteration into memory-bound and compute-bound time and scaling power with the clock.
/// Used where a profile holds no measured clock sweep; outputs call it "modelled".
/// </summary>
/// <remarks>
/// For a shape, the inner model gives time T_b and energy E_b per GPU at the clock f_b the card ran at. f_b and whether
/// the card was power-capped come from the profile's nearest measured point of the same kind (decode-only or with
/// prefill, nearest in log prefill tokens, decode sequences and contexts): its observed SM clock and NVML clock-event reasons. Without observations (derived
/// profiles, roofline) f_b is the card's maximum and a point is capped when its power is within
/// <see cref="FrequencyModelParameters.PowerCapFraction"/> of the limit.
/// <para>Time. Each stage (GEMMs, decode attention, prefill attention; <see cref="ShardWork"/>) has a compute floor
/// FLOPs / (peak x f / f_max) and a memory floor bytes / bandwidth; T(f) = T_b x U(f) / U(f_b) with
/// U(f) = sum over stages of max(compute floor at f, memory floor). The measured excess over the floors therefore
/// follows its stage's bound: memory-bound work keeps its time, compute-bound work stretches by f_b / f. T(f) is never
/// below the roofline at f.</para>
/// <para>Power. P(f) = P_static + E_mem / T(f) + P_dyn,b (f / f_b)^alpha with P_static the measured idle power,
/// E_mem = bytes x 8 x HBM energy per bit, and P_dyn,b = E_b / T_b - P_static - E_mem / T_b (see
/// <see cref="FrequencyModelParameters"/>). A clock above what the card sustains runs at the sustainable clock: at most
/// f_max, at most f_b for a capped point, and at most the clock at which P(f) reaches the power limit.</para>
/// </remarks>
public sealed class ModelledFrequencyCostModel : IClockedCostModel
{
    private readonly ICostModel _inner;
    private readonly IDecodeRunCostModel? _runs;
    private readonly FrequencyModelParameters _p;
    private readonly ShardWork _work;
    private readonly double _peakFlops;
    private readonly double _bandwidth;
    private readonly double _fmax;
    private readonly double _staticWatts;
    private readonly double _limitWatts;
    private readonly ClockObservation[] _decodeObs;
    private readonly ClockObservation[] _prefillObs;

    /// <summary>A measured point's clock: where it sits (<see cref="Coordinates"/>), the SM clock it ran at and whether it was power-capped.</summary>
    private readonly record struct ClockObservation(double A, double B, double C, double D, double E, double ClockMHz, bool Capped);

    // Where a shape sits for the nearest-point lookup: log2 of prefill tokens, decode sequences, prefill sequences, mean decode context
    // and mean prefill cached context (each +1), so a measured point's own shape finds its own clock.
    private static (double A, double B, double C, double D, double E) Coordinates(in IterationShape s) => (
        Math.Log2(1 + s.PrefillTokens), Math.Log2(1 + s.DecodeSequences), Math.Log2(1 + s.PrefillSequences),
        Math.Log2(1 + (s.DecodeSequences > 0 ? (double)s.DecodeContextTokens / s.DecodeSequences : 0)),
        Math.Log2(1 + (s.PrefillSequences > 0 ? (double)s.PrefillContextTokens / s.PrefillSequences : 0)));

    public ModelledFrequencyCostModel(ICostModel inner, FrequencyModelParameters? parameters = null)
    {
        ArgumentNullException.ThrowIfNull(inner);
        _inner = inner;
        _runs = inner as IDecodeRunCostModel;
        _p = parameters ?? FrequencyModelParameters.Published;
        _p.Validate();
        var gpu = inner.Gpu;
        if (gpu.Bf16DenseTflops <= 0 || gpu.MemoryBandwidthGBs <= 0)
            throw new ArgumentException($"GPU '{gpu.Name}' has no datasheet peak TFLOPS or memory bandwidth: the frequency model needs both to split an iteration into compute- and memory-bound time");
        _work = new ShardWork(inner.Model.Shard(inner.TensorParallel));
        _peakFlops = gpu.Bf16DenseTflops * 1e12;
        _bandwidth = gpu.MemoryBandwidthGBs * 1e9;
        var observed = new List<(ProfilePoint P, IterationShape S)>();
        var limit = gpu.TdpWatts;
        if (inner is ProfileCostModel pm)
        {
            foreach (var p in pm.Points)
                if (double.IsFinite(p.SmClockMHz) && p.SmClockMHz > 0) observed.Add((p, p.Shape));
            if (pm.Profile.Metadata.PowerLimitWatts > 0) limit = pm.Profile.Metadata.PowerLimitWatts;
        }
        _limitWatts = limit;
        _fmax = Math.Max(gpu.MaxSmClockMHz, observed.Count > 0 ? observed.Max(o => o.P.SmClockMHz) : 0);
        if (!(_fmax > 0))
            throw new ArgumentException($"GPU card '{gpu.Name}' gives no max_sm_clock_mhz and its profile recorded no SM clocks: the frequency model needs the card's maximum clock");
        _staticWatts = inner.IdleWatts / inner.TensorParallel;
        ClockObservation Obs((ProfilePoint P, IterationShape S) o)
        {
            var (a, b, c, d, e) = Coordinates(o.S);
            return new(a, b, c, d, e, o.P.SmClockMHz, o.P.Throttled || o.P.MeanPowerWatts >= _p.PowerCapFraction * _limitWatts);
        }
        _decodeObs = observed.Where(o => o.S.PrefillSequences == 0).Select(Obs).ToArray();
        _prefillObs = observed.Where(o => o.S.PrefillSequences > 0).Select(Obs).ToArray();
        if (_decodeObs.Length == 0) _decodeObs = _prefillObs;
        if (_prefillObs.Length == 0) _prefillObs = _decodeObs;
    }

    public ICostModel Inner => _inner;
    public string Basis => FrequencyModelParameters.Label;
    public double MaxClockMHz => _fmax;
    public FrequencyModelParameters Parameters => _p;
    /// <summary>Whether base clocks come from clocks the profile observed (false: the card's maximum is assumed).</summary>
    public bool HasObservedClocks => _decodeObs.Length > 0;
    /// <summary>Power limit of one GPU the model holds estimates under, watts.</summary>
    public double PowerLimitWatts => _limitWatts;

    public string Name => _inner.Name;
    public GpuSpec Gpu => _inner.Gpu;
    public ModelCard Model => _inner.Model;
    public int TensorParallel => _inner.TensorParallel;
    public double IdleWatts => _inner.IdleWatts;

    public IterationCost Estimate(in IterationShape shape) => _inner.Estimate(shape);

    public IterationCost EstimateDecodeRun(int batch, long contextSum, long steps) => InnerRun(batch, contextSum, steps);

    public IterationCost Estimate(in IterationShape shape, double clockMHz) => Scale(shape, _inner.Estimate(shape), clockMHz, out _);

    public double EffectiveClockMHz(in IterationShape shape, double clockMHz)
    {
        Scale(shape, _inner.Estimate(shape), clockMHz, out var f);
        return f;
    }

    /// <summary>Pieces a decode run is cut into, each scaled by the factors of its middle step.</summary>
    private const int RunPieces = 8;

    /// <summary>
    /// A decode run at a clock: the inner model's run cut into <see cref="RunPieces"/> pieces, each scaled by the factors
    /// the model gives its middle step (short runs step by step). The factors vary slowly with context (the tests hold
    /// the result within 0.5% of the step-by-step sum).
    /// </summary>
    public IterationCost EstimateDecodeRun(int batch, long contextSum, long steps, double clockMHz)
    {
        if (steps <= 0 || batch <= 0) return default;
        double t = 0, e = 0;
        if (steps <= 2 * RunPieces)
        {
            for (long j = 0; j < steps; j++)
            {
                var c = Estimate(IterationShape.Decode(batch, 0) with { DecodeContextTokens = contextSum + batch * j }, clockMHz);
                t += c.Seconds;
                e += c.Joules;
            }
            return new IterationCost(t, e);
        }
        long from = 0;
        for (var k = 1; k <= RunPieces; k++)
        {
            var to = steps * k / RunPieces;
            var ctx = contextSum + (long)batch * from;
            var run = InnerRun(batch, ctx, to - from);
            var mid = IterationShape.Decode(batch, 0) with { DecodeContextTokens = ctx + (long)batch * ((to - from) / 2) };
            var b = _inner.Estimate(mid);
            var s = Scale(mid, b, clockMHz, out _);
            t += run.Seconds * (s.Seconds / b.Seconds);
            e += run.Joules * (s.Joules / b.Joules);
            from = to;
        }
        return new IterationCost(t, e);
    }

    private IterationCost InnerRun(int batch, long contextSum, long steps)
    {
        if (_runs != null) return _runs.EstimateDecodeRun(batch, contextSum, steps);
        double t = 0, j = 0;
        for (long i = 0; i < steps; i++)
        {
            var c = _inner.Estimate(IterationShape.Decode(batch, 0) with { DecodeContextTokens = contextSum + batch * i });
            t += c.Seconds;
            j += c.Joules;
        }
        return new IterationCost(t, j);
    }

    /// <summary>The clock the profile's nearest measured point of the shape's kind ran at, and whether it was capped.</summary>
    public (double ClockMHz, bool Capped) BaseClock(in IterationShape shape, double wattsPerGpu)
    {
        var obs = shape.PrefillSequences > 0 ? _prefillObs : _decodeObs;
        if (obs.Length == 0) return (_fmax, wattsPerGpu >= _p.PowerCapFraction * _limitWatts);
        var (a, b, c, e, g) = Coordinates(shape);
        var best = obs[0];
        var bestD = double.PositiveInfinity;
        foreach (var o in obs)
        {
            var d = Math.Abs(o.A - a) + Math.Abs(o.B - b) + Math.Abs(o.C - c) + Math.Abs(o.D - e) + Math.Abs(o.E - g);
            if (d < bestD) { best = o; bestD = d; }
        }
        return (Math.Min(best.ClockMHz, _fmax), best.Capped || wattsPerGpu >= _p.PowerCapFraction * _limitWatts);
    }

    private IterationCost Scale(in IterationShape shape, IterationCost b, double clockMHz, out double effective)
    {
        if (!(clockMHz > 0) || double.IsNaN(clockMHz)) throw new ArgumentException($"an SM clock must be a positive number of MHz, got {clockMHz}");
        effective = Math.Min(clockMHz, _fmax);
        if (shape.IsEmpty || !(b.Seconds > 0)) return b;
        var tp = _inner.TensorParallel;
        double tb = b.Seconds, pb = b.Joules / tp / tb;
        var (fb, capped) = BaseClock(shape, pb);
        var st = _work.Stages(shape);
        var peakAtBase = _peakFlops * fb / _fmax;
        double cg = st.Gemm.Flops / peakAtBase, mg = st.Gemm.Bytes / _bandwidth;
        double cd = st.DecodeAttention.Flops / peakAtBase, md = st.DecodeAttention.Bytes / _bandwidth;
        double cp = st.PrefillAttention.Flops / peakAtBase, mp = st.PrefillAttention.Bytes / _bandwidth;
        double U(double stretch) => Math.Max(cg * stretch, mg) + Math.Max(cd * stretch, md) + Math.Max(cp * stretch, mp);
        var ub = U(1);
        double flops = st.Flops, bytes = st.Bytes;
        double T(double f) => Math.Max(tb * U(fb / f) / ub, Math.Max(flops / (_peakFlops * f / _fmax), bytes / _bandwidth));
        var emem = Math.Min(bytes * 8 * _p.HbmJoulesPerBit, Math.Max(0, (pb - _staticWatts) * tb));
        var pdyn = Math.Max(0, pb - _staticWatts - emem / tb);
        var alpha = _p.Alpha;
        double P(double f, double t) => _staticWatts + emem / t + pdyn * Math.Pow(f / fb, alpha);

        var fe = Math.Min(clockMHz, _fmax);
        if (capped) fe = Math.Min(fe, fb);
        var te = T(fe);
        var ceiling = Math.Max(_limitWatts, pb) * (1 + 1e-9);
        if (P(fe, te) > ceiling)
        {
            // The power limit holds the clock down: the highest clock whose modelled power fits under it.
            double lo = Math.Min(fb, fe), hi = fe;
            for (var i = 0; i < 40 && hi - lo > 1e-3; i++)
            {
                var mid = (lo + hi) / 2;
                if (P(mid, T(mid)) > ceiling) hi = mid; else lo = mid;
            }
            fe = lo;
            te = T(fe);
        }
        effective = fe;
        return new IterationCost(te, P(fe, te) * te * tp);
    }
}
