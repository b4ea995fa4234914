using MathNet.Numerics.LinearAlgebra;

namespace Joules.Profiles.Measured;

/// <summary>How <see cref="ProfileCostModel"/> priced a shape.</summary>
public enum EstimateMethod { Empty, PrefillInterpolation, DecodeInterpolation, Fit }

/// <summary>Cost model driven by a measured calibration profile: interpolation inside the measured grid, a fitted physical model elsewhere.</summary>
/// <remarks>
/// Pure prefill shapes (no cached context) are interpolated bilinearly over (batch, new tokens per
/// sequence), pure decode shapes over (batch, context per sequence), in linear coordinates. What is
/// interpolated is the ratio of each measured point to the fit below, so measured points are reproduced
/// exactly while between them the estimate follows the fit's physical shape (flat while memory bound,
/// then linear in tokens) instead of a straight line across a power-of-two gap. Everything else — mixed batches,
/// chunked prefill over a cache, uneven shapes outside the grid — uses a non-negative least-squares fit
/// (rows weighted by 1/measured so it minimises relative error) over features with a physical meaning:
/// a per-iteration constant (weight reads, launches), total tokens (GEMM work) with hinge terms at a few
/// token counts (the memory-bound → compute-bound knee of the roofline), sequences, prefill attention
/// pairs, prefill cached context, decode context tokens (KV reads), and one indicator each for the
/// prefill and the decode attention path (their own kernels in every layer, paid once per iteration when
/// present). Energy is fitted as static power times the (fitted) duration plus energy per unit of the
/// same work features and the prefill indicator. Non-negative coefficients keep
/// extrapolation positive and monotone. Energies in the profile are per GPU; the instance is tp GPUs.
/// </remarks>
public sealed class ProfileCostModel : IDecodeRunCostModel
{
    private static readonly double[] s_knotCandidates = [64, 256, 1024, 4096];

    private readonly BilinearGrid? _prefill;
    private readonly BilinearGrid? _decode;
    private readonly double[] _knots;
    private readonly double[] _timeCoefficients;
    private readonly double[] _energyCoefficients;
    private readonly double _minSeconds;
    private readonly double _minJoules;

    /// <param name="profile">The measured profile.</param>
    /// <param name="gpu">Datasheet to report as <see cref="Gpu"/>; by default the catalog entry matching the profile's NVML name, or a spec built from the profile.</param>
    /// <param name="smClockTarget">Which clock's points to use when the profile holds a clock sweep; by default the default-clock points (or the first clock present).</param>
    public ProfileCostModel(MeasuredProfile profile, GpuSpec? gpu = null, int? smClockTarget = null)
    {
        Profile = profile;
        Model = profile.Metadata.Model;
        TensorParallel = Math.Max(1, profile.Metadata.TensorParallel);
        Gpu = gpu ?? ResolveGpu(profile.Metadata, profile.IdlePowerWatts);
        var clocks = profile.ClockTargets;
        SmClockTarget = smClockTarget ?? (clocks.Contains(null) ? null : clocks.FirstOrDefault());
        if (smClockTarget is not null && !clocks.Contains(smClockTarget))
            throw new ArgumentException($"profile has no points at SM clock {smClockTarget} MHz (it has: {string.Join(", ", clocks.Select(c => c?.ToString() ?? "default"))})");
        Points = profile.Points
            .Where(p => p.Phase != ProfilePhase.Idle && p.SmClockTarget == SmClockTarget
                        && double.IsFinite(p.IterationSeconds) && p.IterationSeconds > 0
                        && double.IsFinite(p.EnergyJoules) && p.EnergyJoules > 0)
            .ToArray();
        if (Points.Count == 0) throw new InvalidDataException("profile has no usable measured points (positive time and energy) to build a cost model from");
        IdleWatts = profile.IdlePowerWatts * TensorParallel;


        var maxTokens = Points.Max(p => (double)p.Shape.TotalTokens);
        var minTokens = Points.Min(p => (double)p.Shape.TotalTokens);
        _knots = s_knotCandidates.Where(k => k > minTokens && k < maxTokens).ToArray();
        var rows = Points.Count;
        var a = Matrix<double>.Build.Dense(rows, FeatureCount);
        var bt = Vector<double>.Build.Dense(rows);
        var be = Vector<double>.Build.Dense(rows);
        var ae = Matrix<double>.Build.Dense(rows, EnergyFeatureCount);
        var f = new double[FeatureCount];
        var g = new double[EnergyFeatureCount];
        for (var i = 0; i < rows; i++)
        {
            var shape = Points[i].Shape;
            Features(shape, f);
            // The energy fit sees the measured duration: static power is paid for as long as the iteration lasts.
            EnergyFeatures(shape, Points[i].IterationSeconds, g);
            // Dividing each row by its measured value turns least squares into least relative error.
            for (var j = 0; j < f.Length; j++) a[i, j] = f[j] / Points[i].IterationSeconds;
            for (var j = 0; j < g.Length; j++) ae[i, j] = g[j] / Points[i].EnergyJoules;
            bt[i] = 1;
            be[i] = 1;
        }
        _timeCoefficients = NonNegativeLeastSquares.Solve(a, bt);
        _energyCoefficients = NonNegativeLeastSquares.Solve(ae, be);
        // A floor for degenerate fits, so Estimate stays positive for every non-empty shape.
        _minSeconds = Points.Min(p => p.IterationSeconds) * 1e-3;
        _minJoules = Points.Min(p => p.EnergyJoules) * 1e-3;

        // The grids interpolate the ratio of measured to fitted values, so between grid points the
        // estimate follows the fit's physical shape (the roofline knee) rather than a straight line.
        var prefill = Points.Where(p => p.Phase == ProfilePhase.Prefill && p.ContextTokens == 0).ToArray();
        var decode = Points.Where(p => p.Phase == ProfilePhase.Decode).ToArray();
        _prefill = prefill.Length > 0 ? new BilinearGrid(prefill.Select(p => (PrefillCoordinates(p.Shape), Ratios(p)))) : null;
        _decode = decode.Length > 0 ? new BilinearGrid(decode.Select(p => (DecodeCoordinates(p.Shape), Ratios(p)))) : null;
    }

    private (double T, double E, ProfilePoint P) Ratios(ProfilePoint p)
    {
        var (t, e) = FitEstimate(p.Shape);
        return (p.IterationSeconds / t, p.EnergyJoules / e, p);
    }

    /// <summary>Loads a profile file (.parquet or .json) and builds its cost model: what `joules simulate --profile FILE` uses.</summary>
    public static ProfileCostModel FromFile(string path, GpuSpec? gpu = null, int? smClockTarget = null) =>
        new(MeasuredProfile.Load(path), gpu, smClockTarget) { SourcePath = path };

    /// <summary>The file the profile was loaded from, when it came from one (for provenance).</summary>
    public string? SourcePath { get; init; }

    /// <summary>Where `joules calibrate` writes the profile of a GPU (catalog name), model and tp under <paramref name="root"/>.</summary>
    public static string DefaultPath(string gpuName, string modelName, int tp = 1, string root = "calibration") =>
        Path.Combine(root, gpuName, tp > 1 ? $"{modelName}-tp{tp}" : modelName, "profile.parquet");

    public MeasuredProfile Profile { get; }

    /// <summary>Whether the profile is derived from another GPU's measurements (`joules profile derive`) rather than measured on this one.</summary>
    public bool IsDerived => Profile.Metadata.IsDerived;

    /// <summary>How the profile was derived (source path and hash, method, datasheets, <see cref="Derived.DerivedProvenance.Note"/>), or null when it was measured.</summary>
    public Derived.DerivedProvenance? Derivation => Profile.Metadata.Derived;

    /// <summary>The measured points this model uses (one clock target, idle excluded).</summary>
    public IReadOnlyList<ProfilePoint> Points { get; }

    public int? SmClockTarget { get; }

    /// <summary>"profile:GPU/model" for a measured profile, "derived:GPU/model" for a derived one, so reports say which it is.</summary>
    public string Name => $"{(IsDerived ? "derived" : "profile")}:{Gpu.Name}/{Model.Name}" + (TensorParallel > 1 ? $"/tp{TensorParallel}" : "") + (SmClockTarget is { } c ? $"@{c}MHz" : "");

    public GpuSpec Gpu { get; }

    public ModelCard Model { get; }

    public int TensorParallel { get; }

    public double IdleWatts { get; }

    /// <summary>Names of the fitted features, in coefficient order.</summary>
    public IReadOnlyList<string> FeatureNames =>
        ["1", "tokens", .. _knots.Select(k => $"max(0,tokens-{k})"), "sequences", "prefill_attention_pairs", "prefill_context_tokens", "decode_context_tokens", "has_prefill", "has_decode"];

    /// <summary>Fitted seconds per unit of each feature (one GPU).</summary>
    public IReadOnlyList<double> TimeCoefficients => _timeCoefficients;

    /// <summary>Names of the energy fit's features, in coefficient order (the first is the iteration's duration: its coefficient is the static power).</summary>
    public IReadOnlyList<string> EnergyFeatureNames =>
        ["seconds", "1", "tokens", "sequences", "prefill_attention_pairs", "prefill_context_tokens", "decode_context_tokens", "has_prefill"];

    /// <summary>Fitted joules per unit of each energy feature (one GPU).</summary>
    public IReadOnlyList<double> EnergyCoefficients => _energyCoefficients;

    private int FeatureCount => 8 + _knots.Length;

    private const int EnergyFeatureCount = 8;

    public IterationCost Estimate(in IterationShape shape)
    {
        var (seconds, joules, _) = EstimatePerGpu(shape);
        return new IterationCost(seconds, joules * TensorParallel);
    }

    /// <summary>Time and energy of one GPU (one shard) for the shape, and which method priced it.</summary>
    public (double Seconds, double Joules, EstimateMethod Method) EstimatePerGpu(in IterationShape shape)
    {
        if (shape.IsEmpty) return (0, 0, EstimateMethod.Empty);
        var grid = shape.DecodeSequences == 0 && shape.PrefillContextTokens == 0 ? _prefill : shape.PrefillSequences == 0 ? _decode : null;
        if (grid is not null)
        {
            var at = grid == _prefill ? PrefillCoordinates(shape) : DecodeCoordinates(shape);
            var method = grid == _prefill ? EstimateMethod.PrefillInterpolation : EstimateMethod.DecodeInterpolation;
            if (grid.TryLookup(at, out var exact, out var rt, out var re))
            {
                if (exact) return (rt, re, method);
                var (ft0, fe0) = FitEstimate(shape);
                return (ft0 * rt, fe0 * re, method);
            }
        }
        var (ft1, fe1) = FitEstimate(shape);
        return (ft1, fe1, EstimateMethod.Fit);
    }

    /// <summary>
    /// Summed cost of <paramref name="steps"/> consecutive decode iterations of <paramref name="batch"/> sequences whose
    /// contexts start summing to <paramref name="contextSum"/> and grow by one token per sequence per step.
    /// </summary>
    /// <remarks>
    /// At a fixed batch, the estimate between two measured contexts is (interpolated ratio, linear in context) x
    /// (fit, linear in context): a quadratic in the step index. So the run is cut at every measured context, each
    /// piece is summed in closed form from three evaluations, and two more evaluations check that the piece really
    /// is that quadratic (a piece that is not, e.g. across a missing grid corner, is summed step by step).
    /// The result equals the step-by-step sum to rounding; it is what lets the simulator jump over long decode phases.
    /// </remarks>
    public IterationCost EstimateDecodeRun(int batch, long contextSum, long steps)
    {
        if (steps <= 0 || batch <= 0) return default;
        // The simulator bisects on the run length with the same start, so the last plan is usually the one needed.
        var plan = _lastRun;
        if (plan is null || plan.Batch != batch || plan.ContextSum != contextSum || plan.Covered < steps)
            _lastRun = plan = PlanDecodeRun(batch, contextSum, steps);
        double seconds = 0, joules = 0;
        foreach (var piece in plan.Pieces)
        {
            if (piece.From >= steps) break;
            var to = Math.Min(piece.To, steps);
            if (piece.Closed)
            {
                double n = to - piece.From;
                double s1 = n * (n - 1) / 2, s2 = (n - 1) * n * (2 * n - 1) / 6;
                seconds += n * piece.T0 + piece.TB * s1 + piece.TC * s2;
                joules += n * piece.E0 + piece.EB * s1 + piece.EC * s2;
            }
            else
            {
                for (var j = piece.From; j < to; j++)
                {
                    var (t, e) = DecodeStep(batch, contextSum, j);
                    seconds += t;
                    joules += e;
                }
            }
        }
        return new IterationCost(seconds, joules * TensorParallel);
    }

    private volatile DecodeRunPlan? _lastRun;

    /// <summary>A decode run cut at every measured context, each piece a quadratic in the step index where it checks out.</summary>
    private sealed record DecodeRunPlan(int Batch, long ContextSum, long Covered, DecodeRunPiece[] Pieces);

    /// <summary>Steps [From, To) of a run; when Closed, time = T0 + TB x + TC x^2 (x = step - From), energy likewise.</summary>
    private readonly record struct DecodeRunPiece(long From, long To, bool Closed, double T0, double TB, double TC, double E0, double EB, double EC);

    private (double Seconds, double Joules) DecodeStep(int batch, long contextSum, long j)
    {
        var (t, e, _) = EstimatePerGpu(IterationShape.Decode(batch, 0) with { DecodeContextTokens = contextSum + (long)batch * j });
        return (t, e);
    }

    private DecodeRunPlan PlanDecodeRun(int batch, long contextSum, long steps)
    {
        var c0 = (double)contextSum / batch;
        var cuts = new List<long>(8) { 0, steps };
        if (_decode is not null)
        {
            foreach (var g in _decode.Ys)
            {
                // The step landing exactly on a measured context is its own piece: the grid is only continuous, not smooth, there.
                var j = (long)Math.Ceiling(g - c0);
                if (j > 0 && j < steps) cuts.Add(j);
                if (c0 + j == g && j + 1 > 0 && j + 1 < steps) cuts.Add(j + 1);
            }
        }
        cuts.Sort();
        var pieces = new List<DecodeRunPiece>(cuts.Count);
        for (var i = 0; i + 1 < cuts.Count; i++)
        {
            long from = cuts[i], to = cuts[i + 1], n = to - from;
            if (n == 0) continue;
            DecodeRunPiece piece = new(from, to, false, 0, 0, 0, 0, 0, 0);
            if (n >= 9)
            {
                long m = (n - 1) / 2, p = n - 1, q1 = n / 4, q3 = 3 * n / 4;
                var (t0, e0) = DecodeStep(batch, contextSum, from);
                var (tm, em) = DecodeStep(batch, contextSum, from + m);
                var (tp, ep) = DecodeStep(batch, contextSum, from + p);
                var (tq1, eq1) = DecodeStep(batch, contextSum, from + q1);
                var (tq3, eq3) = DecodeStep(batch, contextSum, from + q3);
                if (TryQuadratic(t0, tm, tp, m, p, tq1, q1, tq3, q3, out var tb, out var tc)
                    && TryQuadratic(e0, em, ep, m, p, eq1, q1, eq3, q3, out var eb, out var ec))
                    piece = new DecodeRunPiece(from, to, true, t0, tb, tc, e0, eb, ec);
            }
            pieces.Add(piece);
        }
        return new DecodeRunPlan(batch, contextSum, steps, pieces.ToArray());
    }

    // The quadratic f0 + b x + c x^2 through (0, f0), (m, fm), (p, fp), if it also passes through both check points.
    private static bool TryQuadratic(double f0, double fm, double fp, long m, long p, double fq1, long q1, double fq3, long q3, out double b, out double c)
    {
        c = ((fp - f0) / p - (fm - f0) / m) / (p - m);
        b = (fm - f0) / m - c * m;
        var (bb, cc) = (b, c);
        double F(long x) => f0 + bb * x + cc * (double)x * x;
        var tolerance = 1e-9 * Math.Max(Math.Abs(f0), Math.Abs(fp));
        return Math.Abs(F(q1) - fq1) <= tolerance && Math.Abs(F(q3) - fq3) <= tolerance;
    }

    private (double Seconds, double Joules) FitEstimate(in IterationShape s)
    {
        // The same features as Features/EnergyFeatures, evaluated directly: this runs once per simulated iteration.
        var c = _timeCoefficients;
        double tokens = s.TotalTokens;
        double hasPrefill = s.PrefillSequences > 0 ? 1 : 0, hasDecode = s.DecodeSequences > 0 ? 1 : 0;
        var ft = c[0] + c[1] * tokens;
        var i = 2;
        foreach (var k in _knots) ft += c[i++] * Math.Max(0, tokens - k);
        ft += c[i] * s.TotalSequences + c[i + 1] * s.PrefillAttentionPairs + c[i + 2] * s.PrefillContextTokens
              + c[i + 3] * s.DecodeContextTokens + c[i + 4] * hasPrefill + c[i + 5] * hasDecode;
        ft = Math.Max(ft, _minSeconds);
        var g = _energyCoefficients;
        var fe = g[0] * ft + g[1] + g[2] * tokens + g[3] * s.TotalSequences + g[4] * s.PrefillAttentionPairs
                 + g[5] * s.PrefillContextTokens + g[6] * s.DecodeContextTokens + g[7] * hasPrefill;
        return (ft, Math.Max(fe, _minJoules));
    }

    /// <summary>Which method <see cref="Estimate"/> uses for the shape.</summary>
    public EstimateMethod MethodFor(in IterationShape shape) => EstimatePerGpu(shape).Method;

    private void Features(in IterationShape s, Span<double> f)
    {
        double tokens = s.TotalTokens;
        var i = 0;
        f[i++] = 1;
        f[i++] = tokens;
        foreach (var k in _knots) f[i++] = Math.Max(0, tokens - k);
        f[i++] = s.TotalSequences;
        f[i++] = s.PrefillAttentionPairs;
        f[i++] = s.PrefillContextTokens;
        f[i++] = s.DecodeContextTokens;
        // Each attention path (prefill, decode) launches its own kernels in every layer when present.
        f[i++] = s.PrefillSequences > 0 ? 1 : 0;
        f[i] = s.DecodeSequences > 0 ? 1 : 0;
    }

    // Energy = static power x duration + energy per unit of work (GEMM tokens, attention, KV reads).
    private static void EnergyFeatures(in IterationShape s, double seconds, Span<double> g)
    {
        g[0] = seconds;
        g[1] = 1;
        g[2] = s.TotalTokens;
        g[3] = s.TotalSequences;
        g[4] = s.PrefillAttentionPairs;
        g[5] = s.PrefillContextTokens;
        g[6] = s.DecodeContextTokens;
        // Chosen by leave-one-out on the H200 profiles: a per-iteration energy offset for the prefill path helps
        // both the 8B and the 70B shard; one for decode made the 8B's worst held-out point worse.
        g[7] = s.PrefillSequences > 0 ? 1 : 0;
    }

    private static (double X, double Y) PrefillCoordinates(in IterationShape s) =>
        (s.PrefillSequences, s.PrefillSequences == 0 ? 0 : (double)s.PrefillTokens / s.PrefillSequences);

    private static (double X, double Y) DecodeCoordinates(in IterationShape s) =>
        (s.DecodeSequences, s.DecodeSequences == 0 ? 0 : (double)s.DecodeContextTokens / s.DecodeSequences);

    private static GpuSpec ResolveGpu(ProfileMetadata m, double idleWatts)
    {
        try
        {
            return Catalog.Gpu(m.GpuName);
        }
        catch (KeyNotFoundException)
        {
            // A GPU the catalog does not know: the profile itself is what matters for cost; datasheet
            // ceilings are unknown and left at zero.
            var memory = m.Extra.TryGetValue("gpu.memory_bytes", out var mb) && long.TryParse(mb, out var bytes) ? bytes / (1024.0 * 1024 * 1024) : 0;
            return new GpuSpec
            {
                Name = m.GpuName,
                DisplayName = m.GpuName,
                NvmlNames = [m.GpuName],
                MemoryGiB = memory,
                MemoryBandwidthGBs = 0,
                Bf16DenseTflops = 0,
                TdpWatts = m.PowerLimitWatts,
                IdleWatts = idleWatts,
                Source = "built from a calibration profile's metadata (GPU not in the catalog)",
            };
        }
    }

    /// <summary>Leave-one-out cross-validation: each measured point predicted by a model built from all the others.</summary>
    public CrossValidationReport CrossValidate()
    {
        var results = new List<CrossValidationPoint>();
        for (var i = 0; i < Points.Count; i++)
        {
            var held = Points[i];
            var rest = Profile.Points.Where(p => !ReferenceEquals(p, held)).ToArray();
            if (!rest.Any(p => p.Phase != ProfilePhase.Idle && p.SmClockTarget == SmClockTarget)) continue;
            var model = new ProfileCostModel(Profile.WithPoints(rest), Gpu, SmClockTarget);
            var (t, e, method) = model.EstimatePerGpu(held.Shape);
            results.Add(new CrossValidationPoint(held, t, e, method,
                (t - held.IterationSeconds) / held.IterationSeconds,
                (e - held.EnergyJoules) / held.EnergyJoules));
        }
        return new CrossValidationReport(results);
    }

    /// <summary>Bilinear interpolation (of measured/fitted ratios) over scattered-but-gridded points; a missing corner widens the bracket to the next grid values that are all present.</summary>
    private sealed class BilinearGrid
    {
        private readonly double[] _xs;
        private readonly double[] _ys;
        // Dense tables over xs x ys, NaN where no point was measured: the simulator queries this once per
        // iteration, so lookups are index arithmetic, not hashing.
        private readonly double[,] _ratioT;
        private readonly double[,] _ratioE;
        private readonly double[,] _measuredT;
        private readonly double[,] _measuredE;

        /// <summary>The grid's values on the second axis (context per sequence for decode), ascending.</summary>
        public IReadOnlyList<double> Ys => _ys;

        public BilinearGrid(IEnumerable<((double X, double Y) At, (double T, double E, ProfilePoint P) Ratio)> points)
        {
            var groups = points.GroupBy(p => p.At).ToArray();
            _xs = groups.Select(g => g.Key.X).Distinct().Order().ToArray();
            _ys = groups.Select(g => g.Key.Y).Distinct().Order().ToArray();
            _ratioT = Filled(double.NaN);
            _ratioE = Filled(double.NaN);
            _measuredT = Filled(double.NaN);
            _measuredE = Filled(double.NaN);
            foreach (var g in groups)
            {
                var (i, j) = (Array.BinarySearch(_xs, g.Key.X), Array.BinarySearch(_ys, g.Key.Y));
                // Repeated measurements of one point (e.g. a resumed run) are averaged.
                _ratioT[i, j] = g.Average(p => p.Ratio.T);
                _ratioE[i, j] = g.Average(p => p.Ratio.E);
                _measuredT[i, j] = g.Average(p => p.Ratio.P.IterationSeconds);
                _measuredE[i, j] = g.Average(p => p.Ratio.P.EnergyJoules);
            }
        }

        private double[,] Filled(double v)
        {
            var a = new double[_xs.Length, _ys.Length];
            for (var i = 0; i < _xs.Length; i++)
            for (var j = 0; j < _ys.Length; j++) a[i, j] = v;
            return a;
        }

        /// <summary>
        /// At a measured point: its measured values (<paramref name="exact"/> true; not via ratios, which would round).
        /// Elsewhere inside the grid: the interpolated measured/fit ratios. False outside the grid or where no bracket of
        /// measured corners is near enough.
        /// </summary>
        public bool TryLookup((double X, double Y) q, out bool exact, out double t, out double e)
        {
            t = e = 0;
            exact = false;
            var (x, y) = q;
            if (_xs.Length == 0 || x < _xs[0] || x > _xs[^1] || y < _ys[0] || y > _ys[^1]) return false;
            // Indices of the nearest grid values at or below / at or above the query, on each axis.
            var (xLo, xHi) = Bracket(_xs, x);
            var (yLo, yHi) = Bracket(_ys, y);
            if (xLo == xHi && yLo == yHi && !double.IsNaN(_measuredT[xLo, yLo]))
            {
                (exact, t, e) = (true, _measuredT[xLo, yLo], _measuredE[xLo, yLo]);
                return true;
            }
            // Nearest brackets first; give up after a few widenings so sparse corners fall to the fit.
            for (var i0 = 0; i0 < 3 && xLo - i0 >= 0; i0++)
            for (var i1 = 0; i1 < 3 && xHi + i1 < _xs.Length; i1++)
            for (var j0 = 0; j0 < 3 && yLo - j0 >= 0; j0++)
            for (var j1 = 0; j1 < 3 && yHi + j1 < _ys.Length; j1++)
            {
                int a = xLo - i0, b = xHi + i1, c = yLo - j0, d = yHi + j1;
                if (double.IsNaN(_ratioT[a, c]) || double.IsNaN(_ratioT[b, c]) || double.IsNaN(_ratioT[a, d]) || double.IsNaN(_ratioT[b, d]))
                    continue;
                double x0 = _xs[a], x1 = _xs[b], y0 = _ys[c], y1 = _ys[d];
                var u = x1 > x0 ? (x - x0) / (x1 - x0) : 0;
                var w = y1 > y0 ? (y - y0) / (y1 - y0) : 0;
                t = Blend(_ratioT[a, c], _ratioT[b, c], _ratioT[a, d], _ratioT[b, d], u, w);
                e = Blend(_ratioE[a, c], _ratioE[b, c], _ratioE[a, d], _ratioE[b, d], u, w);
                return true;
            }
            return false;
        }

        // Indices of the largest axis value <= v and the smallest >= v (v within the axis range). Axes hold a
        // handful of values, so a scan beats a binary search.
        private static (int Lo, int Hi) Bracket(double[] axis, double v)
        {
            var i = 0;
            while (i < axis.Length - 1 && axis[i + 1] <= v) i++;
            return axis[i] == v ? (i, i) : (i, i + 1);
        }

        private static double Blend(double v00, double v10, double v01, double v11, double u, double w) =>
            (1 - u) * (1 - w) * v00 + u * (1 - w) * v10 + (1 - u) * w * v01 + u * w * v11;
    }
}

/// <summary>One held-out point of a cross-validation: what was measured and what the model built without it predicted.</summary>
public sealed record CrossValidationPoint(ProfilePoint Point, double PredictedSeconds, double PredictedJoules, EstimateMethod Method, double TimeError, double EnergyError);

/// <summary>Leave-one-out cross-validation of a <see cref="ProfileCostModel"/>: relative errors of held-out points.</summary>
public sealed record CrossValidationReport(IReadOnlyList<CrossValidationPoint> Points)
{
    public int Count => Points.Count;
    public double MedianTimeError => Median(Points.Select(p => Math.Abs(p.TimeError)));
    public double WorstTimeError => Points.Count == 0 ? double.NaN : Points.Max(p => Math.Abs(p.TimeError));
    public double MedianEnergyError => Median(Points.Select(p => Math.Abs(p.EnergyError)));
    public double WorstEnergyError => Points.Count == 0 ? double.NaN : Points.Max(p => Math.Abs(p.EnergyError));
    public CrossValidationPoint? WorstTimePoint => Points.MaxBy(p => Math.Abs(p.TimeError));
    public CrossValidationPoint? WorstEnergyPoint => Points.MaxBy(p => Math.Abs(p.EnergyError));

    internal static double Median(IEnumerable<double> values)
    {
        var a = values.Order().ToArray();
        if (a.Length == 0) return double.NaN;
        return a.Length % 2 == 1 ? a[a.Length / 2] : (a[a.Length / 2 - 1] + a[a.Length / 2]) / 2;
    }
}
