using Joules.Profiles.Interconnect;
using MathNet.Numerics.LinearAlgebra;

namespace Joules.Profiles.Measured;

/// <summary>Cost model driven by a measured calibration profile: interpolation inside the measured grids, a fitted physical model elsewhere, the GPU's power cap, and modelled tensor-parallel all-reduce.</summary>
/// <remarks>
/// <para><b>Fit.</b> A non-negative least-squares fit (rows weighted by 1/measured so it minimises relative
/// error) over features with a physical meaning: a per-iteration constant (weight reads, launches), total
/// tokens (GEMM work) with hinge terms at a few token counts, the GEMM stage's roofline (the slower of its weight
/// read at the datasheet bandwidth and its math at <see cref="GemmComputeShare"/> of the datasheet FLOP/s: flat while
/// the weight read bounds the GEMMs, rising per token once the math does), sequences, prefill attention pairs within the chunks, the chunks' sweep over their cached keys (context x max(k, chunk length) for a few k: a short chunk's blocks under-fill the GPU, so its sweep costs per cached key, a long one's per pair; and a hinge, context x max(0, chunk length - 4096), where cuDNN's paged path costs more per pair), decode context tokens (KV reads), decode context
/// per sequence times max(k, decode sequences) for a few k (decode attention under-fills the GPU at small batches),
/// and one indicator each for the prefill and the decode attention path (their own kernels in every layer). Energy
/// is static power times the fitted duration plus energy per unit of the same work features and the prefill
/// indicator. Non-negative coefficients keep the fit positive and monotone.</para>
/// <para><b>Grids.</b> Pure prefill shapes (no cached context) are priced from the measured (batch, new tokens
/// per sequence) grid, pure decode shapes from the (batch, context per sequence) grid: bilinear
/// interpolation of measured time and energy on a grid completed towards the fit (<see cref="MeasuredGrid"/>:
/// zero lines, filled corners, kept non-decreasing; a filled node whose neighbours draw the power limit gets its
/// time at their power), so measured points are reproduced, values are
/// continuous and monotone, and steps along a decode run are linear. Beyond a grid's largest batch or
/// tokens the fit carries the grid edge's absolute residual (measured - fit at the nearest edge point)
/// outward unchanged: continuous at the edge, monotone (the fit grows faster away from the edge), and the
/// residual's relative weight fades as the shape grows.</para>
/// <para><b>Mixed shapes</b> (decodes riding with prefill chunks, chunked prefill over a cache) are the fit
/// plus each part's grid residual, faded by how much foreign work the shape carries: the decode part's
/// residual fades linearly to nothing as prefill tokens grow to L = max(<see cref="FadeTokens"/>, decode
/// sequences); the prefill part's as decode sequences grow to its prefill tokens, and over a cache it is scaled
/// by the share of the fit the uncached chunks account for. A positive residual never fades faster
/// than half the fit's smallest marginal cost of the foreign work (L is lengthened to 2 x residual / marginal
/// cost), so time and energy stay non-decreasing; the fades are continuous, so there is no jump where a pure
/// grid shape gains its first foreign token beyond the fit's own (its per-path indicator costs, which are real
/// kernels).</para>
/// <para><b>Power cap.</b> Where an estimate's mean power exceeds the GPU's power limit (profile metadata; else
/// the datasheet TDP), the time is stretched so power equals the limit and energy is kept: what the GPU's
/// power capping does.</para>
/// <para><b>Tensor parallelism.</b> A tp profile measures one GPU's shard without communication. The model
/// adds two all-reduces per layer (<see cref="TensorParallelComm"/>) to every iteration and charges their
/// time at the iteration's own mean power per GPU, so communication stretches the iteration at unchanged
/// power. Energies in the profile are per GPU; the instance is tp GPUs.</para>
/// <para><b>Pricing classes.</b> Each estimate reports <see cref="PricingClass"/>: exact at a measured grid
/// point, interpolated inside a grid cell with four measured corners, fitted elsewhere inside the measured
/// range (<see cref="Range"/>), extrapolated beyond it.</para>
/// </remarks>
public sealed partial class ProfileCostModel : IDecodeRunCostModel
{
    // Token counts of the hinge terms (those inside the measured range are used). The memory-bound -> compute-bound knee
    // of the GEMMs is the roofline feature's (about 170 tokens on an H200 in bf16), not a fixed knot: a knot at 256 let the
    // fit bend there instead and carry the per-token slope of 256+ tokens down to a 128-token prefill (see GemmRoofline).
    private static readonly double[] s_knotCandidates = [64, 1024, 4096];
    // Batches below which decode attention is priced as under-occupied (see Features); the fit picks among them.
    private static readonly double[] s_decodeOccupancy = [2, 8, 32];
    // Chunk lengths up to which a chunk's sweep over its cached keys costs the same whatever its length (see Features).
    private static readonly double[] s_prefillOccupancy = [256, 1024, 2048];
    // Chunk length beyond which a chunk's sweep over its cached keys costs more per pair (see Features).
    private const double LongChunkTokens = 4096;

    private readonly MeasuredGrid? _prefill;
    private readonly MeasuredGrid? _decode;
    private readonly double[] _knots;
    private readonly double[] _timeCoefficients;
    private readonly double[] _energyCoefficients;
    private readonly double _minSeconds;
    private readonly double _minJoules;
    private readonly double _capWatts;
    private readonly TensorParallelComm? _comm;
    // The shard's GEMM work and the datasheet rates it is priced at (null where the GPU's datasheet has no ceilings).
    private readonly Roofline.ShardWork? _gemm;
    private readonly double _gemmFlopsPerSecond, _gemmBytesPerSecond;
    // Smallest marginal cost the fit charges per prefill token and per decode sequence (time, energy), for the fades.
    private readonly double _minTimePerPrefillToken;
    private readonly double _minEnergyPerPrefillToken;
    private readonly double _minTimePerDecode;
    private readonly double _minEnergyPerDecode;

    /// <param name="profile">The measured profile.</param>
    /// <param name="gpu">Datasheet to report as <see cref="Gpu"/>; by default the catalog entry matching the profile's NVML name, or a spec built from the profile.</param>
    /// <param name="smClockTarget">Which clock's points to use when the profile holds a clock sweep; by default the default-clock points (or the first clock present).</param>
    /// <param name="allReduce">Prices one tensor-parallel all-reduce (e.g. a measured NCCL table); by default <see cref="AlphaBetaAllReduce.ForGpu"/> of <see cref="Gpu"/>. Unused for tp = 1.</param>
    public ProfileCostModel(MeasuredProfile profile, GpuSpec? gpu = null, int? smClockTarget = null, IAllReduceModel? allReduce = null)
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
        PowerCapWatts = profile.Metadata.PowerLimitWatts > 0 ? profile.Metadata.PowerLimitWatts : Gpu.TdpWatts > 0 ? Gpu.TdpWatts : double.PositiveInfinity;
        _capWatts = PowerCapWatts;
        Range = FeatureRange.Of(Points);
        // A whole-instance profile (calibrate --tp N --gpus N) measured the real all-reduce already; only a shard needs the model.
        IsWholeInstance = profile.Metadata.Extra.TryGetValue("tp.mode", out var mode) && mode == "instance";
        _comm = TensorParallel > 1 && !IsWholeInstance ? new TensorParallelComm(allReduce ?? AlphaBetaAllReduce.ForGpu(Gpu), Model, TensorParallel) : null;

        if (Gpu.Bf16DenseTflops > 0 && Gpu.MemoryBandwidthGBs > 0)
        {
            _gemm = new Roofline.ShardWork(Model.Shard(TensorParallel));
            (_gemmFlopsPerSecond, _gemmBytesPerSecond) = (GemmComputeShare * Gpu.Bf16DenseTflops * 1e12, Gpu.MemoryBandwidthGBs * 1e9);
        }

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

        var c = _timeCoefficients;
        var k0 = 2 + _knots.Length;
        var e = _energyCoefficients;
        // One more prefill token adds a GEMM row and at least one attention pair; one more decode a row, a sequence and a context token.
        _minTimePerPrefillToken = c[1] + c[k0 + 1];
        _minTimePerDecode = c[1] + c[k0] + c[k0 + 2];
        _minEnergyPerPrefillToken = e[0] * _minTimePerPrefillToken + e[2] + e[4];
        _minEnergyPerDecode = e[0] * _minTimePerDecode + e[2] + e[3] + e[6];

        var prefill = Points.Where(p => p.Phase == ProfilePhase.Prefill && p.ContextTokens == 0).ToArray();
        var decode = Points.Where(p => p.Phase == ProfilePhase.Decode).ToArray();
        var prefillChunks = Points.Where(p => p.Shape.PrefillSequences > 0).Select(p => p.Shape.PrefillTokens).DefaultIfEmpty(128).Min();
        FadeTokens = Math.Max(1, prefillChunks);
        if (prefill.Length > 0)
            // Prefill cost curves with prompt length (attention pairs grow as n²): interpolate around the fit, which has that term.
            _prefill = new MeasuredGrid(prefill.Select(p => (Px(p.Shape), Py(p.Shape), p.IterationSeconds, p.EnergyJoules)), FitPrefill, interpolateResiduals: true, capWatts: _capWatts);
        if (decode.Length > 0)
            _decode = new MeasuredGrid(decode.Select(p => (Dx(p.Shape), Dy(p.Shape), p.IterationSeconds, p.EnergyJoules)), FitDecode, capWatts: _capWatts);
        if (_decode is not null) (_decodeResidualBoundT, _decodeResidualBoundE) = ResidualBounds(_decode, FitDecode);
        if (_prefill is not null) (_prefillResidualBoundT, _prefillResidualBoundE) = ResidualBounds(_prefill, FitPrefill);
    }

    // Upper bounds on a grid's positive residual (grid value - fit) anywhere in it or beyond it (beyond, the residual is an
    // edge point's), sampled densely with a 25% margin: a mixed shape whose foreign work already fades any residual this
    // large to nothing skips the grid lookup (see Fade).
    private readonly double _decodeResidualBoundT, _decodeResidualBoundE, _prefillResidualBoundT, _prefillResidualBoundE;

    /// <summary>Whether mixed shapes skip grid lookups whose residual is faded to nothing anyway (tests turn it off to check it changes nothing).</summary>
    internal bool SkipFadedResiduals { get; set; } = true;

    private static (double T, double E) ResidualBounds(MeasuredGrid grid, Func<double, double, (double T, double E)> fit)
    {
        double bt = 0, be = 0;
        var ys = grid.Ys;
        for (double x = 1; x <= grid.XMax; x = x < 16 ? x + 1 : Math.Min(grid.XMax, Math.Max(x + 1, Math.Floor(x * 1.1))))
        {
            for (var j = 0; j + 1 < ys.Count; j++)
            for (var k = 0; k <= 32; k++)
            {
                var y = Math.Max(1e-9, ys[j] + (ys[j + 1] - ys[j]) * k / 32);
                var (t, e) = grid.At(x, y, out _);
                var (ft, fe) = fit(x, y);
                bt = Math.Max(bt, t - ft);
                be = Math.Max(be, e - fe);
            }
            if (x == grid.XMax) break;
        }
        return (1.25 * bt, 1.25 * be);
    }

    /// <summary>Loads a profile file (.parquet or .json) and builds its cost model: what `joules simulate --profile FILE` uses.</summary>
    public static ProfileCostModel FromFile(string path, GpuSpec? gpu = null, int? smClockTarget = null, IAllReduceModel? allReduce = null) =>
        new(MeasuredProfile.Load(path), gpu, smClockTarget, allReduce) { SourcePath = path };

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
        ["1", "tokens", .. _knots.Select(k => $"max(0,tokens-{k})"), "sequences", "prefill_chunk_pairs", "decode_context_tokens", "has_prefill", "has_decode",
         .. s_decodeOccupancy.Select(k => $"decode_context_per_sequence*max({k},decode_sequences)"), "gemm_roofline_seconds",
         .. s_prefillOccupancy.Select(k => $"prefill_context_tokens*max({k},prefill_tokens_per_sequence)"), $"prefill_context_tokens*max(0,prefill_tokens_per_sequence-{LongChunkTokens})"];

    /// <summary>Fitted seconds per unit of each feature (one GPU).</summary>
    public IReadOnlyList<double> TimeCoefficients => _timeCoefficients;

    /// <summary>Names of the energy fit's features, in coefficient order (the first is the iteration's duration: its coefficient is the static power).</summary>
    public IReadOnlyList<string> EnergyFeatureNames =>
        ["seconds", "1", "tokens", "sequences", "prefill_attention_pairs", "prefill_context_tokens", "decode_context_tokens", "has_prefill"];

    /// <summary>Fitted joules per unit of each energy feature (one GPU).</summary>
    public IReadOnlyList<double> EnergyCoefficients => _energyCoefficients;

    private int FeatureCount => 9 + _knots.Length + s_decodeOccupancy.Length + s_prefillOccupancy.Length;

    /// <summary>
    /// Share of the datasheet FLOP/s the GEMM feature prices the math at, relative to the datasheet bandwidth it prices
    /// the weight read at: dense bf16 GEMMs reach a smaller share of their peak than a streaming read reaches of its
    /// (on the H200 profiles about 60 % of 989 TFLOP/s once compute-bound, against 80-90 % of 4.8 TB/s for weight
    /// streams), so the memory-bound -> compute-bound knee sits at about 0.8 x the datasheet ridge point.
    /// </summary>
    /// <remarks>Only the knee's place matters (the fit scales the feature). The held-out 128-token prefill corners are
    /// sensitive to it, in opposite directions: at 0.8 the 8B's is -6.7 % and the 70B tp8 shard's +6.4 %; 0.7 puts the
    /// 8B's at -8.8 %, 0.6 at -12 %; 0.85 puts the shard's at +10 %, the datasheet ridge itself (1) at +16 %.</remarks>
    public const double GemmComputeShare = 0.8;

    // The GEMM stage's roofline: the slower of the weight read and the math. Non-decreasing in tokens and sequences.
    private double GemmRoofline(double tokens, double sequences)
    {
        if (_gemm is null) return 0;
        var w = _gemm.GemmWork(tokens, sequences);
        return Math.Max(w.Flops / _gemmFlopsPerSecond, w.Bytes / _gemmBytesPerSecond);
    }

    private const int EnergyFeatureCount = 8;

    /// <summary>Mean power limit of one GPU, watts: the profile's recorded power limit, else the datasheet TDP; estimates never exceed it.</summary>
    public double PowerCapWatts { get; }

    /// <summary>The range of measured shapes; beyond it estimates are <see cref="PricingClass.Extrapolated"/>.</summary>
    public FeatureRange Range { get; }

    /// <summary>Tensor-parallel communication added to each iteration (null for tp = 1).</summary>
    public TensorParallelComm? Comm => _comm;

    /// <summary>The profile measured a whole tensor-parallel instance on all its GPUs (its times include the real all-reduce), not one GPU's shard.</summary>
    public bool IsWholeInstance { get; }

    /// <summary>Prefill tokens over which a decode batch's measured residual fades out of a mixed shape: the smallest measured prefill chunk.</summary>
    public long FadeTokens { get; }

    /// <summary>Grid nodes that were not measured and were filled from the fit (a skipped point, a corner beyond the token budget).</summary>
    public int FilledGridPoints => (_prefill?.FilledPoints ?? 0) + (_decode?.FilledPoints ?? 0);

    /// <summary>Measured grid points raised to the value of a smaller shape because they measured cheaper (noise).</summary>
    public int RaisedGridPoints => (_prefill?.RaisedPoints ?? 0) + (_decode?.RaisedPoints ?? 0);

    public IterationCost Estimate(in IterationShape shape)
    {
        if (shape.IsEmpty) return default;
        var (t, e, pricing) = EstimatePerGpu(shape);
        var tc = _comm?.Seconds(shape.TotalTokens) ?? 0;
        // All-reduce time is charged at the iteration's own mean power (at most the cap).
        var commJoules = tc > 0 ? e / t * tc : 0;
        return new IterationCost(t + tc, (e + commJoules) * TensorParallel)
        {
            CommSeconds = tc,
            CommJoules = commJoules * TensorParallel,
            Pricing = pricing,
        };
    }

    /// <summary>Time and energy of one GPU's shard for the shape (power-capped, communication excluded: what a profile point measures), and how it was priced.</summary>
    public (double Seconds, double Joules, PricingClass Pricing) EstimatePerGpu(in IterationShape shape)
    {
        if (shape.IsEmpty) return (0, 0, PricingClass.Model);
        var (t, e, pricing) = Shard(shape);
        // Power capping: the GPU slows down until its mean power is the limit; the work, and so the energy, is the same.
        if (e > t * _capWatts) t = e / _capWatts;
        return (t, e, pricing);
    }

    /// <summary>The fitted physical model alone for the shape (one GPU's shard, before the grids, the power cap and communication).</summary>
    public (double Seconds, double Joules) FitPerGpu(in IterationShape shape) => shape.IsEmpty ? (0, 0) : FitEstimate(shape);

    /// <summary>How <see cref="Estimate"/> prices the shape.</summary>
    public PricingClass PricingFor(in IterationShape shape) => EstimatePerGpu(shape).Pricing;

    /// <summary>One shard's time and energy before the power cap.</summary>
    private (double T, double E, PricingClass Pricing) Shard(in IterationShape s)
    {
        double t, e;
        PricingClass pricing;
        if (s.PrefillSequences == 0 && _decode is not null)
        {
            (t, e, pricing) = OnGrid(_decode, true, s, Dx(s), Dy(s));
        }
        else if (s.DecodeSequences == 0 && s.PrefillContextTokens == 0 && _prefill is not null)
        {
            (t, e, pricing) = OnGrid(_prefill, false, s, Px(s), Py(s));
        }
        else
        {
            var (ft, fe) = FitEstimate(s);
            (t, e) = (ft, fe);
            pricing = PricingClass.Fitted;
            if (s.DecodeSequences > 0 && _decode is not null) AddDecodeResidual(s, ref t, ref e);
            if (s.PrefillSequences > 0 && _prefill is not null) AddPrefillResidual(s, ft, fe, ref t, ref e);
            t = Math.Max(t, _minSeconds);
            e = Math.Max(e, _minJoules);
        }
        if (Range.Exceeds(s)) pricing = PricingClass.Extrapolated;
        return (t, e, pricing);
    }

    /// <summary>A pure grid shape: the grid inside it; beyond its largest batch or tokens, the fit plus the residual at the nearest edge point.</summary>
    private (double T, double E, PricingClass Pricing) OnGrid(MeasuredGrid grid, bool decode, in IterationShape s, double x, double y)
    {
        if (x <= grid.XMax && y <= grid.YMax)
        {
            var (t, e) = grid.At(x, y, out var pricing);
            return (t, e, pricing);
        }
        var (ft, fe) = FitEstimate(s);
        return Beyond(grid, decode, x, y, ft, fe);
    }

    /// <summary>The grid's value for a part of a shape whose fit is (<paramref name="ft"/>, <paramref name="fe"/>), inside or beyond the grid.</summary>
    private (double T, double E, PricingClass Pricing) OnGrid(MeasuredGrid grid, bool decode, double x, double y, double ft, double fe)
    {
        if (x <= grid.XMax && y <= grid.YMax)
        {
            var (t, e) = grid.At(x, y, out var pricing);
            return (t, e, pricing);
        }
        return Beyond(grid, decode, x, y, ft, fe);
    }

    private (double T, double E, PricingClass Pricing) Beyond(MeasuredGrid grid, bool decode, double x, double y, double ft, double fe)
    {
        double xc = Math.Min(x, grid.XMax), yc = Math.Min(y, grid.YMax);
        var (vt, ve) = grid.At(xc, yc, out _);
        var (ct, ce) = decode ? FitDecode(xc, yc) : FitPrefill(xc, yc);
        return (ft + vt - ct, fe + ve - ce, PricingClass.Fitted);
    }

    // The decode batch's own residual, faded as prefill tokens join it.
    private void AddDecodeResidual(in IterationShape s, ref double t, ref double e)
    {
        double foreign = s.PrefillTokens, baseLength = Math.Max(FadeTokens, s.DecodeSequences);
        if (SkipFadedResiduals && Faded(foreign, baseLength, _decodeResidualBoundT, _minTimePerPrefillToken) && Faded(foreign, baseLength, _decodeResidualBoundE, _minEnergyPerPrefillToken))
            return;
        double x = s.DecodeSequences, y = Dy(s);
        var (pt, pe) = FitAt(0, 0, 0, 0, s.DecodeSequences, s.DecodeContextTokens);
        var (vt, ve, _) = OnGrid(_decode!, true, x, y, pt, pe);
        t += (vt - pt) * Fade(foreign, baseLength, vt - pt, _minTimePerPrefillToken);
        e += (ve - pe) * Fade(foreign, baseLength, ve - pe, _minEnergyPerPrefillToken);
    }

    // The prefill chunks' own residual (as if without cache), faded as decodes join them and, over a cache, scaled by the
    // share of the fit the uncached chunks account for (1 without cache, falling as attention over the cache grows: the
    // residual is the chunk's own GEMM and kernel efficiency, the fit prices the rest). That scaling keeps time and energy
    // rising with context: d/dc [f + r f0 / f] = f' (1 - r f0 / f^2) >= 0 while the residual r is below f.
    private void AddPrefillResidual(in IterationShape s, double ft, double fe, ref double t, ref double e)
    {
        double decodes = s.DecodeSequences, tokens = s.PrefillTokens;
        if (SkipFadedResiduals && Faded(decodes, tokens, _prefillResidualBoundT, _minTimePerDecode) && Faded(decodes, tokens, _prefillResidualBoundE, _minEnergyPerDecode))
            return;
        double x = s.PrefillSequences, y = Py(s);
        var (pt, pe) = FitPrefill(x, y);
        var (vt, ve, _) = OnGrid(_prefill!, false, x, y, pt, pe);
        double wt = Fade(decodes, tokens, vt - pt, _minTimePerDecode), we = Fade(decodes, tokens, ve - pe, _minEnergyPerDecode);
        if (s.PrefillContextTokens > 0)
        {
            // The same shape without its cache: the context tokens and the pairs over them (mean context x tokens, exact for even chunks) removed.
            var contextPairs = (double)s.PrefillContextTokens / s.PrefillSequences * s.PrefillTokens;
            var (ut, ue) = FitAt(s.PrefillSequences, s.PrefillTokens, 0, Math.Max(0, s.PrefillAttentionPairs - contextPairs), s.DecodeSequences, s.DecodeContextTokens);
            wt *= Math.Min(1, ut / ft);
            we *= Math.Min(1, ue / fe);
        }
        t += (vt - pt) * wt;
        e += (ve - pe) * we;
    }

    /// <summary>
    /// Weight 1 - foreign / L (at least 0) of a residual as foreign work joins a pure shape, L = max(baseLength, 2 residual / marginal):
    /// a positive residual never falls faster than half the fit's marginal cost of that work, so the sum stays non-decreasing.
    /// </summary>
    private static double Fade(double foreign, double baseLength, double residual, double marginal)
    {
        if (foreign <= 0) return 1;
        var length = baseLength;
        if (residual > 0) length = marginal > 0 ? Math.Max(length, 2 * residual / marginal) : double.PositiveInfinity;
        return Math.Max(0, 1 - foreign / length);
    }

    // Whether Fade gives 0 for every residual up to the bound (negative residuals fade over baseLength alone).
    private static bool Faded(double foreign, double baseLength, double bound, double marginal) =>
        foreign >= (bound > 0 ? (marginal > 0 ? Math.Max(baseLength, 2 * bound / marginal) : double.PositiveInfinity) : baseLength);

    // Grid coordinates: prefill (sequences, new tokens per sequence), decode (sequences, context per sequence).
    private static double Px(in IterationShape s) => s.PrefillSequences;
    private static double Py(in IterationShape s) => s.PrefillSequences == 0 ? 0 : (double)s.PrefillTokens / s.PrefillSequences;
    private static double Dx(in IterationShape s) => s.DecodeSequences;
    private static double Dy(in IterationShape s) => s.DecodeSequences == 0 ? 0 : (double)s.DecodeContextTokens / s.DecodeSequences;

    // The fit at grid coordinates: x even chunks of y new tokens over no cache; x decodes of y context each.
    private (double T, double E) FitPrefill(double x, double y) => FitAt((int)x, x * y, 0, x * y * (y + 1) / 2, 0, 0);
    private (double T, double E) FitDecode(double x, double y) => FitAt(0, 0, 0, 0, (int)x, x * y);

    private (double Seconds, double Joules) FitEstimate(in IterationShape s) =>
        FitAt(s.PrefillSequences, s.PrefillTokens, s.PrefillContextTokens, s.PrefillAttentionPairs, s.DecodeSequences, s.DecodeContextTokens);

    // The fit at any shape, grid coordinates included (in doubles, so they need not be whole): this runs on every estimate,
    // through the same feature functions the fit was solved with.
    private (double Seconds, double Joules) FitAt(int prefillSequences, double prefillTokens, double prefillContext, double pairs, int decodeSequences, double decodeContext)
    {
        Span<double> f = stackalloc double[FeatureCount];
        TimeFeatures(prefillSequences, prefillTokens, prefillContext, pairs, decodeSequences, decodeContext, f);
        var ft = Math.Max(Dot(_timeCoefficients, f), _minSeconds);
        Span<double> g = stackalloc double[EnergyFeatureCount];
        EnergyFeatures(ft, prefillSequences, prefillTokens, prefillContext, pairs, decodeSequences, decodeContext, g);
        return (ft, Math.Max(Dot(_energyCoefficients, g), _minJoules));
    }

    private static double Dot(double[] c, ReadOnlySpan<double> f)
    {
        double sum = 0;
        for (var j = 0; j < f.Length; j++) sum += c[j] * f[j];
        return sum;
    }

    private void Features(in IterationShape s, Span<double> f) =>
        TimeFeatures(s.PrefillSequences, s.PrefillTokens, s.PrefillContextTokens, s.PrefillAttentionPairs, s.DecodeSequences, s.DecodeContextTokens, f);

    private void TimeFeatures(int prefillSequences, double prefillTokens, double prefillContext, double pairs, int decodeSequences, double decodeContext, Span<double> f)
    {
        var tokens = prefillTokens + decodeSequences;
        double sequences = prefillSequences + decodeSequences;
        var i = 0;
        f[i++] = 1;
        f[i++] = tokens;
        foreach (var k in _knots) f[i++] = Math.Max(0, tokens - k);
        f[i++] = sequences;
        var (chunkPairs, perSequence) = ChunkPairs(prefillSequences, prefillTokens, prefillContext, pairs);
        f[i++] = chunkPairs;
        f[i++] = decodeContext;
        // Each attention path (prefill, decode) launches its own kernels in every layer when present.
        f[i++] = prefillSequences > 0 ? 1 : 0;
        f[i++] = decodeSequences > 0 ? 1 : 0;
        // Decode attention under-fills the GPU at small batches (its blocks are sequences x kv heads x splits): below
        // k sequences a context token costs as if k sequences read it (the 70B shard's one kv head: 330 ns per context
        // token at batch 1, 51 at 8, 36-44 from 64 on). Non-decreasing in batch and context, linear in context at a batch.
        foreach (var k in s_decodeOccupancy) f[i++] = decodeSequences > 0 ? decodeContext / decodeSequences * Math.Max(k, decodeSequences) : 0;
        // The GEMMs' roofline: at a 128-token prefill the 70B tp8 shard's step is bound by its 17.6 GB weight read, from
        // about 170 tokens on by its math; a fit linear in tokens from 256 up overshot the 128-token corner by 15 %.
        f[i++] = GemmRoofline(tokens, sequences);
        // A chunk's attention over its cache: every query tile's block sweeps all the cached keys. A short chunk's blocks
        // under-fill the GPU, so the sweep costs the same per cached key whatever the chunk's length; a long chunk's fill it,
        // and the cost is per (query, cached key) pair. max(k, chunk) x context is that, with the knee k picked by the fit.
        // (70B tp8 shard, tensor-core engine: 3.3-3.8 µs per cached token for chunks of 256-1024 tokens, then 2.2-2.7 ns per
        // pair from 2048 on; pairs and cached tokens as a sum overshot the 1024-token chunk over 4096 cached by 14 % held out.)
        foreach (var k in s_prefillOccupancy) f[i++] = prefillContext * Math.Max(k, perSequence);
        // Past LongChunkTokens a chunk's sweep costs more per pair again: cuDNN's paged attention (bottom-right causal over the
        // engine's page table) took 2.3-2.5 ns per cached pair for the 8B's chunks of 512-4096 tokens and 3.2-3.6 ns for
        // chunks of 8064 and 16256 (H200, 2026-12-04). Held out, the 16256-token chunk over 8192 cached was 15.8 % low in
        // time and 15.6 % in energy without this hinge, +5.6 % and -4.7 % with it. Joules' own kernel keeps one rate there: the
        // fit leaves the term at 0 on the 8B and tp8 profiles it measured (0.03 ns on tp2).
        f[i++] = prefillContext * Math.Max(0, perSequence - LongChunkTokens);
    }

    // A prefill's attention pairs within its own chunks (those over cached keys removed: mean context x tokens, exact for
    // even chunks), and its tokens per sequence.
    private static (double ChunkPairs, double PerSequence) ChunkPairs(int prefillSequences, double prefillTokens, double prefillContext, double pairs)
    {
        if (prefillSequences <= 0) return (pairs, 0);
        var perSequence = prefillTokens / prefillSequences;
        return (Math.Max(0, pairs - prefillContext / prefillSequences * prefillTokens), perSequence);
    }

    // Energy = static power x duration + energy per unit of work (GEMM tokens, attention, KV reads).
    private static void EnergyFeatures(in IterationShape s, double seconds, Span<double> g) =>
        EnergyFeatures(seconds, s.PrefillSequences, s.PrefillTokens, s.PrefillContextTokens, s.PrefillAttentionPairs, s.DecodeSequences, s.DecodeContextTokens, g);

    private static void EnergyFeatures(double seconds, int prefillSequences, double prefillTokens, double prefillContext, double pairs, int decodeSequences, double decodeContext, Span<double> g)
    {
        g[0] = seconds;
        g[1] = 1;
        g[2] = prefillTokens + decodeSequences;
        g[3] = prefillSequences + decodeSequences;
        g[4] = pairs;
        g[5] = prefillContext;
        g[6] = decodeContext;
        // Chosen by leave-one-out on the H200 profiles: a per-iteration energy offset for the prefill path helps
        // both the 8B and the 70B shard; one for decode made the 8B's worst held-out point worse.
        g[7] = prefillSequences > 0 ? 1 : 0;
    }

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
            var (t, e, pricing) = model.EstimatePerGpu(held.Shape);
            results.Add(new CrossValidationPoint(held, t, e, pricing,
                (t - held.IterationSeconds) / held.IterationSeconds,
                (e - held.EnergyJoules) / held.EnergyJoules));
        }
        return new CrossValidationReport(results);
    }

}

/// <summary>One held-out point of a cross-validation: what was measured and what the model built without it predicted.</summary>
public sealed record CrossValidationPoint(ProfilePoint Point, double PredictedSeconds, double PredictedJoules, PricingClass Pricing, double TimeError, double EnergyError);

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
