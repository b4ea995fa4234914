using System.Globalization;
using System.Security.Cryptography;
using Joules.Profiles.Measured;
using Joules.Profiles.Roofline;
using MathNet.Numerics.LinearAlgebra;

namespace Joules.Profiles.Derived;

/// <summary>What `joules profile derive` needs besides the source profile: the target datasheet, the source's measured rates, and provenance to record.</summary>
public sealed record DerivationRequest
{
    /// <summary>The datasheet GPU to derive a profile for.</summary>
    public required GpuSpec Target { get; init; }
    /// <summary>Measured GEMM rate and copy bandwidth of the GPU the source profile was measured on.</summary>
    public required MeasuredRates SourceRates { get; init; }
    /// <summary>Path of the source profile as it should be recorded (relative to the repository for shipped files).</summary>
    public required string SourcePath { get; init; }
    /// <summary>SHA-256 of the source profile file, lower-case hex.</summary>
    public required string SourceSha256 { get; init; }
    /// <summary>Datasheet of the source GPU; by default the catalog entry matching the profile's GPU name.</summary>
    public GpuSpec? SourceDatasheet { get; init; }
    public string ToolVersion { get; init; } = "";
    public string Command { get; init; } = "";
    public DateTimeOffset CreatedUtc { get; init; } = DateTimeOffset.UnixEpoch;
    /// <summary>Tensor-parallel degree of the derived profile's shard; null keeps the source's (a GPU change only).</summary>
    public int? TargetTp { get; init; }
}

/// <summary>How one measured point was split and scaled: its parts on the source and on the target, seconds per GPU, and its power.</summary>
public sealed record DerivedPoint(
    ProfilePoint Source,
    ProfilePoint Derived,
    double FixedSeconds,
    StagePart Gemm,
    StagePart DecodeAttention,
    StagePart PrefillAttention,
    double SourceWatts,
    double DerivedWatts,
    bool PowerCapped)
{
    /// <summary>Source seconds of the parts that were bound by memory traffic (floor and excess of memory-bound stages).</summary>
    public double MemoryBoundSeconds => Sum(p => p.ComputeBound ? 0 : p.SourceSeconds);

    /// <summary>Source seconds of the parts that were bound by math.</summary>
    public double ComputeBoundSeconds => Sum(p => p.ComputeBound ? p.SourceSeconds : 0);

    private double Sum(Func<StagePart, double> f) => f(Gemm) + f(DecodeAttention) + f(PrefillAttention);
}

/// <summary>One stage of a point: its roofline floor and measured share on the source, its floor and derived time on the target.</summary>
public sealed record StagePart(double SourceFloorSeconds, double SourceSeconds, bool ComputeBound, double TargetFloorSeconds, double TargetSeconds);

/// <summary>One point's time on the source and on the target, split into the fixed overhead and its three stages (seconds, one GPU).</summary>
internal readonly record struct PointParts(double Fixed, StagePart Gemm, StagePart Decode, StagePart Prefill)
{
    /// <summary>Source seconds of the fixed overhead, GEMMs, decode and prefill attention.</summary>
    public double[] SourceSeconds => [Fixed, Gemm.SourceSeconds, Decode.SourceSeconds, Prefill.SourceSeconds];
    /// <summary>Target seconds of the same four parts.</summary>
    public double[] TargetSeconds => [Fixed, Gemm.TargetSeconds, Decode.TargetSeconds, Prefill.TargetSeconds];
}

/// <summary>A derived profile and how each of its points came about.</summary>
public sealed record DerivationResult(MeasuredProfile Profile, DerivedProvenance Provenance, IReadOnlyList<DerivedPoint> Points);

/// <summary>
/// Derives a profile for a datasheet GPU from a profile measured on another GPU: each measured point is split
/// into a fixed per-iteration overhead and three stages (GEMMs, decode attention, prefill attention), each stage's
/// time is rescaled by the ratio of the target's figures to the source's, and power is rescaled within the
/// target's limit. See src/Joules.Profiles/README.md for the method, its assumptions and its measured error.
/// </summary>
/// <remarks>
/// <para>Time, per point of measured time T on the source (rates: the source's measured GEMM rate F and copy
/// bandwidth B; the target's are F and B times the ratio of the datasheet figures, so the source's efficiency
/// against its datasheet carries over):</para>
/// <list type="number">
/// <item>Each stage's floor u = max(FLOPs / F, bytes / B), FLOPs and bytes counted by <see cref="ShardWork"/>.</item>
/// <item>The fixed overhead f (launches, small-kernel latency) is the smallest excess T − Σu over the source's
///   points (all points pay it; on the shipped profiles it is the batch-1 decode at the shortest context).</item>
/// <item>Each stage is given its floor; a non-negative least-squares fit of the excess T − f − Σu on the stage floors
///   gives each stage's typical excess per unit of floor (b), and each point's own excess is shared over its stages
///   in proportion to b·u. So every part is at least its floor and the parts add up to the measured time.</item>
/// <item>On the target: GEMMs take their floor there plus the excess they had over the floor on the source
///   (scaled by the compute ratio where the GEMMs were compute-bound: power-capped tensor work; unscaled where
///   they were memory-bound: per-kernel tails); decode attention keeps its time unless the target's floor is higher
///   (the engine's decode-attention kernel is latency-bound, streaming K/V at about 2 TB/s on both the H100 and the
///   H200: calibration/engine/README.md); prefill attention scales with the compute ratio, likewise never below the
///   target's floor; f is kept. No stage ends below its floor on the target, a faster target never makes a point
///   slower, and derived for its own GPU a profile comes back unchanged.</item>
/// </list>
/// <para>Power: P = E / T of the point; the static part is the source's measured idle power scaled by the ratio of
/// the cards' idle figures, the dynamic part P − idle is scaled by the ratio of power limits (target TDP over the
/// source's limit), and the sum is capped at the target's TDP; energy = power x derived time.</para>
/// </remarks>
public static class ProfileDeriver
{
    /// <summary>Name and version of this method, recorded in every derived profile.</summary>
    public const string MethodName = "stage-roofline-v1";

    /// <summary>The method's name when the shard's tensor-parallel degree changes too: every stage scaled by its work on the new shard, power by its parts.</summary>
    public const string ReshardMethodName = "stage-roofline-reshard-v1";

    /// <summary>Memory besides weights and KV cache that an iteration needs on the target (CUDA context, workspaces, the engine's 1 GiB margin).</summary>
    public const double MemoryReserveBytes = 1.5 * (1L << 30);

    /// <summary>Reads the source profile and the rates file, checks they belong to the same GPU, and derives: what `joules profile derive` runs.</summary>
    /// <param name="sourcePath">The measured profile.</param>
    /// <param name="target">Catalog name or datasheet JSON path of the target GPU.</param>
    /// <param name="ratesPath">An engine-bench JSON (`joules engine bench --json`) with the source GPU's measured rates.</param>
    /// <param name="toolVersion">Version of joules doing the derivation.</param>
    /// <param name="command">The command line, for provenance.</param>
    /// <param name="now">Creation time to record.</param>
    /// <param name="targetTp">Tensor-parallel degree of the derived shard (null: the source's).</param>
    public static DerivationResult DeriveFiles(string sourcePath, string target, string ratesPath, string toolVersion, string command, DateTimeOffset now, int? targetTp = null)
    {
        var source = MeasuredProfile.Load(sourcePath);
        if (source.Metadata.IsDerived)
            throw new ArgumentException($"{sourcePath} is itself a derived profile ({source.Metadata.Derived!.Note}); derive from a measured one");
        var bench = EngineBenchFile.Read(ratesPath);
        var rates = bench.Rates ?? throw new InvalidDataException(
            $"{ratesPath}: no measured rates (gemm_flops_per_s, copy_bytes_per_s); write one with `joules engine bench --roofline --json FILE` on the source GPU");
        var sourceGpu = SourceDatasheet(source.Metadata, sourcePath);
        var benchGpu = Catalog.TryGpu(bench.GpuName);
        if (benchGpu is null || !string.Equals(benchGpu.Name, sourceGpu.Name, StringComparison.OrdinalIgnoreCase))
            throw new ArgumentException($"{ratesPath} was measured on {bench.GpuName}, but {sourcePath} was measured on {source.Metadata.GpuName}: the rates must come from the source profile's GPU type");
        return Derive(source, new DerivationRequest
        {
            Target = Catalog.Gpu(target),
            SourceRates = rates,
            SourcePath = sourcePath,
            SourceSha256 = Sha256(sourcePath),
            SourceDatasheet = sourceGpu,
            ToolVersion = toolVersion,
            Command = command,
            CreatedUtc = now,
            TargetTp = targetTp,
        });
    }

    /// <summary>Lower-case hex SHA-256 of a file.</summary>
    public static string Sha256(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    /// <summary>Where derived profiles go: calibration/derived/&lt;gpu&gt;/&lt;model&gt;[-tpN]/profile.derived.parquet, a folder and a file name no measured profile uses.</summary>
    public static string DefaultPath(string gpuName, string modelName, int tp = 1, string root = "calibration") =>
        Path.Combine(root, "derived", gpuName, tp > 1 ? $"{modelName}-tp{tp}" : modelName, FileName);

    /// <summary>File name of a derived profile (measured ones are profile.parquet).</summary>
    public const string FileName = "profile.derived.parquet";

    /// <summary>Derives a profile for <see cref="DerivationRequest.Target"/> from <paramref name="source"/>.</summary>
    public static DerivationResult Derive(MeasuredProfile source, DerivationRequest request)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(request);
        var meta = source.Metadata;
        var src = request.SourceDatasheet ?? SourceDatasheet(meta, request.SourcePath);
        var tgt = request.Target;
        CheckDatasheet(src, "source");
        CheckDatasheet(tgt, "target");
        request.SourceRates.Validate(request.SourceRates.Source);
        var idle = source.IdlePowerWatts;
        if (!(idle > 0)) throw new InvalidDataException($"{request.SourcePath}: the profile has no measured idle power, which the derived static power is scaled from");

        var tp = Math.Max(1, meta.TensorParallel);
        var shard = meta.Model.Shard(tp);
        var work = new ShardWork(shard);
        var targetTp = request.TargetTp ?? tp;
        if (targetTp < 1) throw new ArgumentException($"tensor-parallel degree must be at least 1, got {targetTp}");
        // A whole instance's points include its measured all-reduces, which no stage of one shard accounts for.
        if (targetTp != tp && meta.Extra.TryGetValue("tp.mode", out var mode) && mode == "instance")
            throw new ArgumentException($"{request.SourcePath} measured a whole tp={tp} instance (its all-reduces included); another degree is derived from one GPU's shard (`joules calibrate --tp N` without --gpus)");
        var targetShard = targetTp == tp ? shard : meta.Model.Shard(targetTp);
        var targetWork = targetTp == tp ? work : new ShardWork(targetShard);
        var (fs, bs) = (request.SourceRates.GemmFlopsPerSecond, request.SourceRates.CopyBytesPerSecond);
        var rates = new Rates(fs, bs, fs * tgt.Bf16DenseTflops / src.Bf16DenseTflops, bs * tgt.MemoryBandwidthGBs / src.MemoryBandwidthGBs);

        var (points, dropped) = Usable(source, targetShard, tgt);
        if (points.Count == 0) throw new InvalidDataException($"{request.SourcePath}: no default-clock measured points to derive from (dropped: {string.Join("; ", dropped)})");

        var stages = points.Select(p => work.Stages(p.Shape)).ToArray();
        var floors = stages.Select(w => Floors(w, fs, bs)).ToArray();
        var fixedSeconds = Math.Max(0, points.Select((p, i) => p.IterationSeconds - floors[i].Sum).Min());
        var multipliers = FitStageMultipliers(points, floors, fixedSeconds);
        // Static power from the target card (the source's measured idle scaled by the cards' idle figures), dynamic by the limits.
        var power = new PowerModel(idle, src.IdleWatts > 0 && tgt.IdleWatts > 0 ? idle * tgt.IdleWatts / src.IdleWatts : idle,
            tgt.TdpWatts / (meta.PowerLimitWatts > 0 ? meta.PowerLimitWatts : src.TdpWatts), tgt.TdpWatts);

        var derived = new List<DerivedPoint>(points.Count);
        PointParts[] Split(ExcessScaling? scaling) => points.Select((p, i) =>
        {
            var (gemm, decode, prefill) = ScaleStages(stages[i], targetWork.Stages(p.Shape), floors[i], p.IterationSeconds - fixedSeconds - floors[i].Sum, multipliers, rates, scaling);
            return new PointParts(fixedSeconds, gemm, decode, prefill);
        }).ToArray();
        var parts = Split(null);
        // Each stage's excess on the source, split as above, tells how much of it grows with the stage's work; the
        // source side of a split does not depend on the scaling, so the first split serves the fit.
        if (targetTp != tp)
            parts = Split(ExcessScaling.FitSamples(parts.SelectMany(x => new[]
            {
                (x.Gemm.ComputeBound ? 1 : 0, x.Gemm.SourceFloorSeconds, x.Gemm.SourceSeconds - x.Gemm.SourceFloorSeconds),
                (2, x.Decode.SourceFloorSeconds, x.Decode.SourceSeconds - x.Decode.SourceFloorSeconds),
                (3, x.Prefill.SourceFloorSeconds, x.Prefill.SourceSeconds - x.Prefill.SourceFloorSeconds),
            })));
        // Another shard size changes how the point's time divides between launches and streaming: its power follows
        // the parts (StagePower); on the source's own shard each point keeps its measured power.
        var stagePower = targetTp == tp ? null : StagePower.Fit(points, parts, idle);
        for (var i = 0; i < points.Count; i++)
        {
            var p = points[i];
            var (_, gemm, decode, prefill) = parts[i];
            var seconds = fixedSeconds + gemm.TargetSeconds + decode.TargetSeconds + prefill.TargetSeconds;
            var watts = p.EnergyJoules / p.IterationSeconds;
            if (stagePower is not null) watts = stagePower.Rescale(watts, parts[i]);
            var (derivedWatts, capped) = power.Scale(watts);
            var point = NotObserved(p) with { IterationSeconds = seconds, EnergyJoules = derivedWatts * seconds, MeanPowerWatts = derivedWatts };
            derived.Add(new DerivedPoint(p, point, fixedSeconds, gemm, decode, prefill, watts, derivedWatts, capped));
        }
        var idle0 = NotObserved(source.Idle ?? new ProfilePoint { Phase = ProfilePhase.Idle, TpDegree = tp, IterationSeconds = 1, EnergyJoules = 0 }) with { TpDegree = targetTp };
        var idlePoint = idle0 with { MeanPowerWatts = power.TargetStatic, EnergyJoules = power.TargetStatic * idle0.IterationSeconds };

        var provenance = new DerivedProvenance
        {
            From = request.SourcePath,
            FromSha256 = request.SourceSha256,
            Method = targetTp == tp ? MethodName : ReshardMethodName,
            SourceTp = tp,
            TargetTp = targetTp,
            SourceGpu = meta.GpuUuid.Length > 0 ? $"{meta.GpuName} ({meta.GpuUuid})" : meta.GpuName,
            SourceDatasheet = src,
            TargetDatasheet = tgt,
            SourceRates = request.SourceRates,
            FixedOverheadSeconds = fixedSeconds,
            StageMultipliers = multipliers,
            SourceStaticWatts = power.SourceStatic,
            TargetStaticWatts = power.TargetStatic,
            DynamicPowerScale = power.DynamicScale,
            Dropped = dropped,
            ToolVersion = request.ToolVersion,
            SourceToolVersion = meta.ToolVersion,
            SourceCreatedUtc = meta.CreatedUtc.UtcDateTime.ToString("O", CultureInfo.InvariantCulture),
        };
        var metadata = new ProfileMetadata
        {
            GpuName = tgt.NvmlNames.FirstOrDefault() ?? tgt.Name,
            PowerLimitWatts = power.TargetLimit,
            Model = meta.Model,
            TensorParallel = targetTp == tp ? meta.TensorParallel : targetTp,
            Grid = meta.Grid,
            ToolVersion = request.ToolVersion,
            CreatedUtc = request.CreatedUtc,
            IdlePowerWatts = power.TargetStatic,
            Command = request.Command,
            Derived = provenance,
            // The derived numbers are the source engine's kernels estimated on another card or degree: which kernels
            // those are travels with them, so a check or a validation against a server can tell engines apart.
            Extra = ProfileMetadata.EngineEntries(meta.Extra).ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal),
        };
        var profile = new MeasuredProfile(metadata, [.. derived.Select(d => d.Derived), idlePoint]);
        return new DerivationResult(profile, provenance, derived);
    }

    /// <summary>The source's measured GEMM rate and copy bandwidth, and the target's (the same efficiency against its datasheet).</summary>
    private readonly record struct Rates(double SourceFlops, double SourceBytes, double TargetFlops, double TargetBytes)
    {
        /// <summary>Target time per unit of source time for work bound by math.</summary>
        public double ComputeTimeRatio => SourceFlops / TargetFlops;
    }

    /// <summary>Static power per GPU on each side, the factor dynamic power is scaled by, and the target's limit.</summary>
    private readonly record struct PowerModel(double SourceStatic, double TargetStatic, double DynamicScale, double TargetLimit)
    {
        /// <summary>The target's power for a point that drew <paramref name="watts"/> on the source, and whether the limit clipped it.</summary>
        public (double Watts, bool Capped) Scale(double watts)
        {
            var raw = TargetStatic + (watts - SourceStatic) * DynamicScale;
            return (Math.Clamp(raw, TargetStatic, TargetLimit), raw > TargetLimit);
        }
    }

    /// <summary>The points to derive (default clocks, a usable measurement, fits the target's memory) and why the others were left out.</summary>
    private static (List<ProfilePoint> Points, List<string> Dropped) Usable(MeasuredProfile source, ModelShard shard, GpuSpec target)
    {
        var dropped = new List<string>();
        var points = new List<ProfilePoint>();
        foreach (var p in source.Points.Where(p => p.Phase != ProfilePhase.Idle))
        {
            var need = MemoryNeeded(shard, p);
            if (p.SmClockTarget is { } c)
                dropped.Add($"{p}: measured at a locked SM clock ({c} MHz); only default-clock points are derived");
            else if (!(p.IterationSeconds > 0) || !(p.EnergyJoules > 0) || !double.IsFinite(p.IterationSeconds) || !double.IsFinite(p.EnergyJoules))
                dropped.Add($"{p}: no usable measurement (time {p.IterationSeconds}, energy {p.EnergyJoules})");
            else if (need > target.MemoryBytes)
                dropped.Add(FormattableString.Invariant($"{p}: needs {need / 1e9:F1} GB (weights, KV cache, reserve), {target.Name} has {target.MemoryBytes / 1e9:F1} GB"));
            else
                points.Add(p);
        }
        return (points, dropped);
    }

    /// <summary>
    /// One point's stages on the source (floor plus its share of the measured excess <paramref name="excess"/>) and on the
    /// target: GEMMs at the target's floor plus their excess (tensor work slowed by the power cap keeps its efficiency, so
    /// compute-bound excess scales with compute; per-kernel tails of memory-bound GEMMs stay as they were); attention
    /// kernels, bound by neither roof on the source, keep their time (prefill's tensor-core work scaled by compute) unless
    /// the target's floor is above it.
    /// </summary>
    /// <remarks>On a shard of another tensor-parallel degree (<paramref name="wt"/>, the same GPU's kernels over more or
    /// fewer heads and weight columns) each stage's time above its floor follows <paramref name="scaling"/> from the
    /// stage's floor on the source to its floor on the target shard, both at the source's rates; without it (the
    /// source's own shard) the excess is kept.</remarks>
    private static (StagePart Gemm, StagePart Decode, StagePart Prefill) ScaleStages(in IterationWork w, in IterationWork wt, StageFloors u, double excess, double[] multipliers, Rates r,
        ExcessScaling? scaling = null)
    {
        var ut = Floors(wt, r.SourceFlops, r.SourceBytes);
        double Excess(int stage, double floor, double t, double targetFloor) =>
            scaling is null ? t - floor : scaling.Scale(stage, floor, t - floor, targetFloor);
        var weights = new[] { ((u.GemmComputeBound ? multipliers[1] : multipliers[0]) - 1) * u.Gemm, (multipliers[2] - 1) * u.Decode, (multipliers[3] - 1) * u.Prefill };
        if (weights.Sum() <= 0) weights = [u.Gemm, u.Decode, u.Prefill];
        var share = Math.Max(0, excess) / weights.Sum();
        double tg = u.Gemm + weights[0] * share, td = u.Decode + weights[1] * share, tp = u.Prefill + weights[2] * share;

        var gemmFloor = wt.Gemm.FloorSeconds(r.TargetFlops, r.TargetBytes);
        var gemm = gemmFloor + Excess(u.GemmComputeBound ? 1 : 0, u.Gemm, tg, ut.Gemm) * (u.GemmComputeBound ? r.ComputeTimeRatio : 1);
        var decodeFloor = wt.DecodeAttention.FloorSeconds(r.TargetFlops, r.TargetBytes);
        var decode = wt.DecodeAttention.IsEmpty ? 0 : Math.Max(ut.Decode + Excess(2, u.Decode, td, ut.Decode), decodeFloor);
        var prefillFloor = wt.PrefillAttention.FloorSeconds(r.TargetFlops, r.TargetBytes);
        var prefill = wt.PrefillAttention.IsEmpty ? 0 : Math.Max((ut.Prefill + Excess(3, u.Prefill, tp, ut.Prefill)) * r.ComputeTimeRatio, prefillFloor);
        return (new StagePart(u.Gemm, tg, u.GemmComputeBound, gemmFloor, gemm),
            new StagePart(u.Decode, td, w.DecodeAttention.IsComputeBound(r.SourceFlops, r.SourceBytes), decodeFloor, decode),
            new StagePart(u.Prefill, tp, w.PrefillAttention.IsComputeBound(r.SourceFlops, r.SourceBytes), prefillFloor, prefill));
    }

    /// <summary>The point with the columns nothing observed on the target emptied: clock, temperature, clock events, trials, spread.</summary>
    private static ProfilePoint NotObserved(ProfilePoint p) => p with
    {
        SmClockMHz = double.NaN, TemperatureC = double.NaN, ThrottleReasons = 0, Repeats = 0, CvTime = double.NaN, CvEnergy = double.NaN,
    };

    /// <summary>Device memory a point needs on one GPU: weights, the KV cache of every sequence's context and new tokens, and <see cref="MemoryReserveBytes"/>.</summary>
    public static double MemoryNeeded(ModelShard shard, ProfilePoint p)
    {
        var s = p.Shape;
        double kvTokens = s.PrefillContextTokens + s.PrefillTokens + s.DecodeContextTokens;
        return shard.WeightBytesPerGpu + kvTokens * shard.KvBytesPerTokenPerGpu + MemoryReserveBytes;
    }

    private readonly record struct StageFloors(double Gemm, bool GemmComputeBound, double Decode, double Prefill)
    {
        public double Sum => Gemm + Decode + Prefill;
    }

    private static StageFloors Floors(in IterationWork w, double flops, double bytes) =>
        new(w.Gemm.FloorSeconds(flops, bytes), w.Gemm.IsComputeBound(flops, bytes), w.DecodeAttention.FloorSeconds(flops, bytes), w.PrefillAttention.FloorSeconds(flops, bytes));

    // Fits the excess over the floors, T - f - sum(u) = b0 u_gemm[memory-bound] + b1 u_gemm[compute-bound] + b2 u_decode + b3 u_prefill
    // with b >= 0 (no stage beats its floor), each row divided by T - f so it weighs every point's time alike. The multipliers
    // returned are 1 + b: measured time per unit of each stage's floor.
    private static double[] FitStageMultipliers(IReadOnlyList<ProfilePoint> points, IReadOnlyList<StageFloors> floors, double fixedSeconds)
    {
        var rows = Enumerable.Range(0, points.Count).Where(i => points[i].IterationSeconds - fixedSeconds > 0).ToArray();
        var a = Matrix<double>.Build.Dense(rows.Length, 4);
        var b = Vector<double>.Build.Dense(rows.Length);
        for (var r = 0; r < rows.Length; r++)
        {
            var i = rows[r];
            var y = points[i].IterationSeconds - fixedSeconds;
            var u = floors[i];
            a[r, u.GemmComputeBound ? 1 : 0] = u.Gemm / y;
            a[r, 2] = u.Decode / y;
            a[r, 3] = u.Prefill / y;
            b[r] = Math.Max(0, y - u.Sum) / y;
        }
        var solved = rows.Length > 0 ? NonNegativeLeastSquares.Solve(a, b) : new double[4];
        // A stage no point exercises stays at its floor (multiplier 1).
        return solved.Select((x, j) => a.Column(j).All(v => v == 0) ? 1 : 1 + x).ToArray();
    }

    private static GpuSpec SourceDatasheet(ProfileMetadata meta, string path) =>
        Catalog.TryGpu(meta.GpuName) ?? throw new ArgumentException(
            $"{path} was measured on '{meta.GpuName}', which the GPU catalog does not know; the derivation needs its datasheet figures (known: {string.Join(", ", Catalog.Gpus.Keys.Order())})");

    private static void CheckDatasheet(GpuSpec g, string role)
    {
        if (!(g.Bf16DenseTflops > 0) || !(g.MemoryBandwidthGBs > 0) || !(g.TdpWatts > 0) || !(g.MemoryGiB > 0))
            throw new ArgumentException($"{role} GPU '{g.Name}': the datasheet needs positive bf16_dense_tflops, memory_bandwidth_gbs, tdp_watts and memory_gib");
    }
}
