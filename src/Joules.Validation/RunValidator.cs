using System.Globalization;
using System.Security.Cryptography;
using Joules.Profiles;
using Joules.Replay;
using Joules.Simulation;
using S = Joules.Simulation.Settings.SimulateSettings;

namespace Joules.Validation;

/// <summary>Which arrival times the re-simulation uses.</summary>
public enum ArrivalSource
{
    /// <summary>The trace's, through the run's window and rate scaling (what the replay was asked to send).</summary>
    Trace,
    /// <summary>The times the replay actually sent each request (its schedule lag included).</summary>
    Sent,
    /// <summary>The send times, handed out in the order the endpoint queued the requests (joules serve's queue numbers): concurrent requests are admitted as the server admitted them.</summary>
    Received,
}

/// <summary>Where the host time the re-simulation adds to each iteration comes from.</summary>
public enum HostTimeSource
{
    /// <summary>The run's mean over its iterations (the server's joules:iteration_host_seconds_total over its samples), added to every iteration.</summary>
    RunMean,
    /// <summary>One figure stated by the user (--iteration-overhead-ms), added to every iteration.</summary>
    Given,
    /// <summary>Each iteration's own, from the server's iteration log: the measured iteration that ran at the same moment of the run.</summary>
    PerIteration,
}

/// <summary>Largest errors (percent, absolute) a validation accepts; null: not checked.</summary>
public sealed record ValidationLimits
{
    public double? EnergyPct { get; init; }
    public double? TtftP50Pct { get; init; }
    public double? TpotP50Pct { get; init; }
    public double? E2eP50Pct { get; init; }
}

/// <summary>How to re-simulate a measured run.</summary>
public sealed record ValidationOptions
{
    /// <summary>Settings that override what the run's metadata says (a profile, a cost model, limits).</summary>
    public ScenarioSpec Overrides { get; init; } = new();
    public string? ProfileRoot { get; init; }
    public ArrivalSource Arrivals { get; init; } = ArrivalSource.Trace;
    /// <summary>The trace file, when it moved since the run (its hash must still match).</summary>
    public string? TracePath { get; init; }
    public ValidationLimits Limits { get; init; } = new();
    /// <summary>Width of the power-timeline bins compared, seconds.</summary>
    public double PowerBinS { get; init; } = 1;
    /// <summary>The server's `joules serve --iteration-log` file covering the run: host time per iteration as measured, instead of the run's mean.</summary>
    public string? IterationLog { get; init; }
}

/// <summary>
/// A profile file as a validation names it. The path alone is not enough: a published joules prefers the profiles it
/// was published with (its data/ folder) over a checkout's, and a validation once priced a run with the profile a
/// re-calibration had just replaced; the hash and the card make that visible.
/// </summary>
/// <param name="Path">Where it was read.</param>
/// <param name="Sha256">SHA-256 of the file, hex.</param>
/// <param name="GpuUuid">The card that measured it (its idle point; a profile resumed on other cards names more in profile show).</param>
/// <param name="CreatedUtc">When it was written.</param>
/// <param name="Engine">Its engine.* entries: the kernels that measured it.</param>
public sealed record ProfileFileInfo(string Path, string Sha256, string GpuUuid, DateTimeOffset CreatedUtc, IReadOnlyList<KeyValuePair<string, string>> Engine)
{
    public static ProfileFileInfo Of(string path)
    {
        var meta = Joules.Profiles.Measured.MeasuredProfile.Load(path).Metadata;
        return new ProfileFileInfo(path, Joules.Profiles.Derived.ProfileDeriver.Sha256(path), meta.GpuUuid, meta.CreatedUtc,
            Joules.Profiles.Measured.ProfileMetadata.EngineEntries(meta.Extra));
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{Path} (sha256 {Sha256[..12]}, measured {CreatedUtc:yyyy-MM-dd HH:mm}Z{(GpuUuid.Length > 0 ? $" on {GpuUuid}" : "")})");
}

/// <summary>One metric measured and simulated.</summary>
/// <param name="Name">snake_case name (energy_j, ttft_p50_s, ...).</param>
/// <param name="Measured">The run's figure.</param>
/// <param name="Simulated">The simulation's figure.</param>
/// <param name="Limit">The accepted |error| in percent, when one was set.</param>
public sealed record MetricComparison(string Name, double Measured, double Simulated, double? Limit)
{
    /// <summary>(simulated - measured) / measured, in percent.</summary>
    public double ErrorPct => Measured != 0 && double.IsFinite(Measured) && double.IsFinite(Simulated) ? (Simulated - Measured) / Measured * 100 : double.NaN;
    public bool Passed => Limit is not { } l || Math.Abs(ErrorPct) <= l;
}

/// <summary>What `joules validate` found: the metrics side by side, the simulated configuration, and the series its report draws.</summary>
public sealed record ValidationResult
{
    public required string RunFolder { get; init; }
    public required RunMetadata Run { get; init; }
    public required IReadOnlyList<MetricComparison> Metrics { get; init; }
    public required SimulationSummary Simulated { get; init; }
    /// <summary>Host time per iteration given to the simulator (measured by the server, or as overridden), ms; with an iteration log, its mean over the run.</summary>
    public double IterationOverheadMs { get; init; }
    /// <summary>The run's iterations read from the server's iteration log, whose host times the simulation replayed; null when it used one host time for all.</summary>
    public MeasuredIterations? Iterations { get; init; }
    /// <summary>Where the host time per iteration came from (the run's mean, a given figure, or each iteration's from the log).</summary>
    public HostTimeSource HostTime { get; init; }
    public ArrivalSource Arrivals { get; init; }
    public required string CostModel { get; init; }
    public required double[] MeasuredWatts { get; init; }
    public required double[] SimulatedWatts { get; init; }
    public double PowerBinS { get; init; }
    public required double[] MeasuredTtft { get; init; }
    public required double[] SimulatedTtft { get; init; }
    public required double[] MeasuredTpot { get; init; }
    public required double[] SimulatedTpot { get; init; }
    public required double[] MeasuredE2e { get; init; }
    public required double[] SimulatedE2e { get; init; }
    public bool Passed => Unfit.Count == 0 && Metrics.All(m => m.Passed);
    /// <summary>Why the run and its simulation cannot be compared at all (no request completed on one side); a validation with any fails whatever its metrics say.</summary>
    public IReadOnlyList<string> Unfit { get; init; } = [];
    /// <summary>The profile file that priced the simulation (null for the roofline): which file, which bytes, which card.</summary>
    public ProfileFileInfo? ProfileFile { get; init; }
    /// <summary>What makes the comparison less than like for like (the server ran other kernels than the profile measured); printed before the table.</summary>
    public IReadOnlyList<string> Warnings { get; init; } = [];
}

/// <summary>
/// Re-simulates a measured run (a `joules replay --out` folder) exactly: the same requests of the same trace window at
/// the same rate, on one instance configured as the server said it was (scheduler limits and KV blocks from its
/// /metrics, the host time per iteration it measured), priced by a measured profile; then compares energy, power,
/// throughput and the latency percentiles metric by metric.
/// </summary>
public static class RunValidator
{
    public static ValidationResult Validate(string runFolder, ValidationOptions? options = null, CancellationToken cancel = default)
    {
        var o = options ?? new ValidationOptions();
        var run = MeasuredRun.Load(runFolder);
        var meta = run.Metadata;
        if (o.IterationLog is not null && o.Overrides.IsSet(S.IterationOverheadMs))
            throw new ArgumentException("give the host time per iteration either as --iteration-overhead-ms or measured in --iteration-log, not both");
        var iterations = o.IterationLog is { } log ? MeasuredIterations.Load(log, meta) : null;
        var (spec, overheadMs) = SpecFor(meta, o, iterations);
        var scenario = spec.Resolve(o.ProfileRoot);
        var cost = scenario.CreateCostModel();
        // With the log, each iteration pays the host time measured at its moment of the run: host time on a loaded machine
        // comes in bursts (a preempted loop thread, late timer wake-ups), and one mean spread evenly over a run stretches
        // the iterations between the bursts and not those in them, which moves latency percentiles far more than totals.
        if (iterations is not null) cost = new MeasuredHostTimeCostModel(cost, iterations.Series());
        IEnumerable<Joules.Traces.TraceRequest> trace = o.Arrivals switch
        {
            ArrivalSource.Sent => run.SentTrace(),
            ArrivalSource.Received => run.ReceivedTrace(),
            _ => TraceOf(meta, o, cancel),
        };
        var sink = new CollectingSink(wantsPower: true);
        var cluster = scenario.Cluster with { PowerBinSeconds = o.PowerBinS };
        var sim = ClusterSimulation.Run(cluster, cost, trace, sink);

        var measured = new MetricsCollector(new SloConfig());
        foreach (var r in run.Requests) measured.Add(r);
        var simulated = new MetricsCollector(new SloConfig());
        foreach (var r in sink.Requests) simulated.Add(r);
        var duration = meta.DurationS;
        var energy = meta.Energy.Joules;
        var l = o.Limits;
        var metrics = new List<MetricComparison>
        {
            new("energy_j", energy, sim.EnergyJ, l.EnergyPct),
            new("mean_power_w", duration > 0 ? energy / duration : double.NaN, sim.MeanWatts, null),
            new("duration_s", duration, sim.SimulatedSeconds, null),
            new("throughput_rps", duration > 0 ? measured.Completed / duration : double.NaN, sim.RequestsPerSecond, null),
            new("output_tokens_per_s", duration > 0 ? measured.OutputTokens / duration : double.NaN, sim.OutputTokensPerSecond, null),
            new("j_per_output_token", measured.OutputTokens > 0 ? energy / measured.OutputTokens : double.NaN, sim.JPerOutputToken, null),
        };
        void Dist(string name, LogHistogram m, Distribution s, double? p50Limit)
        {
            metrics.Add(new($"{name}_p50_s", m.Quantile(0.5), s.P50, p50Limit));
            metrics.Add(new($"{name}_p90_s", m.Quantile(0.9), s.P90, null));
            metrics.Add(new($"{name}_p99_s", m.Quantile(0.99), s.P99, null));
            metrics.Add(new($"{name}_mean_s", m.Mean, s.Mean, null));
        }
        Dist("ttft", measured.Ttft, sim.Ttft, l.TtftP50Pct);
        Dist("tpot", measured.Tpot, sim.Tpot, l.TpotP50Pct);
        Dist("e2e", measured.E2e, sim.E2e, l.E2eP50Pct);
        metrics.Add(new("requests_completed", measured.Completed, sim.RequestsCompleted, null));
        if (meta.Server?.Counter("vllm:num_preemptions_total") is { } pre) metrics.Add(new("preemptions", pre, sim.Preemptions, null));
        if (meta.Server?.Counter("joules:iterations_total") is { } it and > 0) metrics.Add(new("iterations", it, sim.Iterations, null));

        // Percentiles of nothing compare as equal (or as NaN) and would pass: a run or a simulation that completed no
        // request is not a validation of anything.
        var unfit = new List<string>();
        if (measured.Completed == 0) unfit.Add($"the run completed none of its {meta.RequestsSent:N0} requests{(meta.Errors.Count > 0 ? $" ({meta.Errors[0]})" : "")}: there is nothing to compare");
        if (sim.RequestsCompleted == 0)
            unfit.Add($"the simulation completed none of its {sim.RequestsTotal:N0} requests ({sim.RequestsRejected:N0} rejected: {(sim.RequestsRejected > 0 ? "see reject_reason; the KV cache or max-model-len is too small for them" : "none finished")})");
        var served = sink.Requests.Where(r => !r.Rejected).ToArray();
        var real = run.Requests.Where(r => !r.Rejected).ToArray();
        var profileFile = scenario.ProfilePath is { } profilePath && File.Exists(profilePath) ? ProfileFileInfo.Of(profilePath) : null;
        return new ValidationResult
        {
            Unfit = unfit,
            Warnings = [.. KernelWarnings(meta.Server?.EngineConfig, profileFile), .. scenario.ShadowedProfile is { } shadow ? [shadow] : Array.Empty<string>()],
            ProfileFile = profileFile,
            RunFolder = run.Folder,
            Run = meta,
            Metrics = metrics,
            Simulated = sim,
            IterationOverheadMs = overheadMs,
            Iterations = iterations,
            HostTime = iterations is not null ? HostTimeSource.PerIteration : o.Overrides.IsSet(S.IterationOverheadMs) ? HostTimeSource.Given : HostTimeSource.RunMean,
            Arrivals = o.Arrivals,
            CostModel = cost.Name,
            MeasuredWatts = Bin(run.Power, o.PowerBinS, duration),
            SimulatedWatts = Bin(sink.Power, o.PowerBinS, sim.SimulatedSeconds),
            PowerBinS = o.PowerBinS,
            MeasuredTtft = Sorted(real.Select(r => r.TtftS)),
            SimulatedTtft = Sorted(served.Select(r => r.TtftS)),
            MeasuredTpot = Sorted(real.Where(r => r.OutputTokens > 1).Select(r => r.TpotS)),
            SimulatedTpot = Sorted(served.Where(r => r.OutputTokens > 1).Select(r => r.TpotS)),
            MeasuredE2e = Sorted(real.Select(r => r.E2eS)),
            SimulatedE2e = Sorted(served.Select(r => r.E2eS)),
        };
    }

    /// <summary>
    /// The simulated configuration: one instance, the run's mode, the scheduler limits and KV blocks the server reported
    /// (joules:engine_config_info, else vllm:cache_config_info), the model and GPU it named, the measured host time per
    /// iteration (none when <paramref name="iterations"/> give it per iteration: OverheadMs is then their mean); the user's
    /// overrides on top.
    /// </summary>
    public static (ScenarioSpec Spec, double OverheadMs) SpecFor(RunMetadata meta, ValidationOptions o, MeasuredIterations? iterations = null)
    {
        var spec = new ScenarioSpec().With(S.Instances, 1).With(S.Mode, meta.Trace.Offline ? "offline" : "online");
        var cfg = meta.Server?.EngineConfig;
        var cache = meta.Server?.CacheConfig;
        void Text(Joules.Simulation.Settings.Setting setting, string? value, string key)
        {
            if (string.IsNullOrEmpty(value)) return;
            spec.WithText(setting, value, $"{RunMetadata.FileName}: server {key}");
        }
        Text(S.Model, cfg?.GetValueOrDefault("model"), "model");
        Text(S.Gpu, cfg?.GetValueOrDefault("gpu"), "gpu");
        Text(S.MaxNumSeqs, cfg?.GetValueOrDefault("max_num_seqs"), "max_num_seqs");
        Text(S.MaxNumBatchedTokens, cfg?.GetValueOrDefault("max_num_batched_tokens"), "max_num_batched_tokens");
        Text(S.MaxModelLen, cfg?.GetValueOrDefault("max_model_len"), "max_model_len");
        Text(S.ChunkedPrefill, cfg?.GetValueOrDefault("chunked_prefill"), "chunked_prefill");
        // A server that does not name the admission gate predates it and admitted by the first chunk.
        if (cfg is not null && !o.Overrides.IsSet(S.SchedulerReserveFullIsl))
            spec.WithText(S.SchedulerReserveFullIsl, cfg.GetValueOrDefault("scheduler_reserve_full_isl") ?? "off",
                cfg.ContainsKey("scheduler_reserve_full_isl") ? $"{RunMetadata.FileName}: server scheduler_reserve_full_isl" : $"{RunMetadata.FileName}: server predates scheduler_reserve_full_isl");
        Text(S.Batching, cfg?.GetValueOrDefault("batching"), "batching");
        Text(S.PrefixCaching, cfg?.GetValueOrDefault("enable_prefix_caching") ?? cache?.GetValueOrDefault("enable_prefix_caching"), "enable_prefix_caching");
        Text(S.BlockSize, cfg?.GetValueOrDefault("block_size") ?? cache?.GetValueOrDefault("block_size"), "block_size");
        Text(S.KvBlocks, cfg?.GetValueOrDefault("num_gpu_blocks") ?? cache?.GetValueOrDefault("num_gpu_blocks"), "num_gpu_blocks");
        var overheadMs = o.Overrides.TryGet(S.IterationOverheadMs, out var given) ? given
            : iterations is not null ? iterations.MeanHostSeconds * 1000
            : (meta.Server?.HostSecondsPerIteration ?? 0) * 1000;
        spec.With(S.IterationOverheadMs, iterations is not null ? 0 : Math.Max(0, overheadMs));
        // A measured run is compared with measured physics: the profile, not a datasheet estimate, unless asked.
        if (!o.Overrides.IsSet(S.CostModel) && !o.Overrides.IsSet(S.Profile)) spec.With(S.CostModel, CostModelFactory.Profile);
        return (o.Overrides.Over(spec), Math.Max(0, overheadMs));
    }

    /// <summary>
    /// Where the server's kernels (its engine_config_info kernel_* labels) differ from those the profile was measured
    /// with (its engine.* metadata): a validation against another engine's profile measures the difference between the
    /// engines, not the simulator (a serving engine that ran the CUDA-core decode attention against a tensor-core
    /// profile showed decode iterations 15 % over their price). Nothing when either side does not say.
    /// </summary>
    public static IReadOnlyList<string> KernelWarnings(IReadOnlyDictionary<string, string>? serverConfig, ProfileFileInfo? profile)
    {
        if (serverConfig is null || profile is null) return [];
        const string prefix = Joules.Profiles.Measured.ProfileMetadata.KernelLabelPrefix;
        var server = serverConfig.Where(kv => kv.Key.StartsWith(prefix, StringComparison.Ordinal))
            .ToDictionary(kv => Joules.Profiles.Measured.ProfileMetadata.EngineKeyPrefix + kv.Key[prefix.Length..], kv => kv.Value, StringComparer.Ordinal);
        if (server.Count == 0) return [];
        var profilePath = profile.Path;
        var warnings = new List<string>();
        foreach (var (key, measured) in profile.Engine)
        {
            if (!server.TryGetValue(key, out var ran) || ran == measured) continue;
            var what = key[Joules.Profiles.Measured.ProfileMetadata.EngineKeyPrefix.Length..].Replace('_', ' ');
            warnings.Add(key.EndsWith("sha256", StringComparison.Ordinal)
                ? $"the server's kernel source ({ran}) is not the one that measured {profilePath} ({measured}): the kernels changed since, and their times may have"
                : $"the server ran {what} \"{ran}\", but {profilePath} was measured with \"{measured}\": the errors below include the difference between the two");
        }
        return warnings;
    }

    private static IEnumerable<Joules.Traces.TraceRequest> TraceOf(RunMetadata meta, ValidationOptions o, CancellationToken cancel)
    {
        var path = o.TracePath ?? meta.Trace.Path;
        if (!File.Exists(path))
            throw new FileNotFoundException($"the run's trace {path} does not exist here: pass --trace FILE (the same file), or --arrivals sent to use the send times the run recorded", path);
        using (var f = File.OpenRead(path))
        {
            var hash = Convert.ToHexStringLower(SHA256.HashData(f));
            if (meta.Trace.Sha256.Length > 0 && hash != meta.Trace.Sha256)
                throw new InvalidDataException($"{path} is not the trace the run sent (SHA-256 {hash[..12]}…, the run's {meta.Trace.Sha256[..Math.Min(12, meta.Trace.Sha256.Length)]}…)");
        }
        var plan = ReplayPlan.Build(Joules.Traces.TraceSource.Open(path, cancel: cancel).Read(cancel), meta.Trace.Window);
        return ReplayPlan.AsTrace(plan);
    }

    /// <summary>Mean watts per bin of <paramref name="binS"/> seconds over [0, end] (every instance or GPU summed).</summary>
    public static double[] Bin(IReadOnlyList<PowerSample> samples, double binS, double end)
    {
        var n = Math.Max(1, (int)Math.Ceiling(end / binS - 1e-9));
        var j = new double[n];
        foreach (var s in samples)
        {
            var span = s.EndS - s.StartS;
            if (span <= 0) { var b0 = Math.Clamp((int)(s.StartS / binS), 0, n - 1); j[b0] += s.Joules; continue; }
            // Spread each sample's energy over the bins it overlaps.
            for (var b = Math.Max(0, (int)(s.StartS / binS)); b < n && b * binS < s.EndS; b++)
            {
                var overlap = Math.Min(s.EndS, (b + 1) * binS) - Math.Max(s.StartS, b * binS);
                if (overlap > 0) j[b] += s.Joules * overlap / span;
            }
        }
        for (var b = 0; b < n; b++) j[b] /= Math.Min(binS, Math.Max(1e-9, end - b * binS));
        return j;
    }

    private static double[] Sorted(IEnumerable<double> v)
    {
        var a = v.Where(double.IsFinite).ToArray();
        Array.Sort(a);
        return a;
    }

    /// <summary>Formats an error percentage with its sign.</summary>
    public static string Pct(double v) => double.IsFinite(v) ? v.ToString("+0.0;-0.0;0.0", CultureInfo.InvariantCulture) + " %" : "-";
}
