using Joules.Profiles;
using Joules.Profiles.Measured;
using Joules.Simulation.Settings;
using S = Joules.Simulation.Settings.SimulateSettings;

namespace Joules.Simulation;

/// <summary>
/// One configuration to simulate as the user gave it: a value for each setting of <see cref="SimulateSettings"/>
/// that was set, nothing for the rest. Layers combine with <see cref="Over"/> (scenario entry over the file's
/// <c>defaults</c> over command-line options over built-in defaults); <see cref="Resolve"/> turns it into a
/// validated configuration.
/// </summary>
public sealed class ScenarioSpec
{
    public const string DefaultGpu = "h200";
    public const string DefaultModel = "llama-3.1-8b";

    private readonly Dictionary<Setting, object> _values = [];

    /// <summary>Sets a value (validated); returns this spec for chaining.</summary>
    public ScenarioSpec With<T>(Setting<T> setting, T value) where T : notnull
    {
        setting.Check(value, setting.OptionName);
        _values[setting] = value;
        return this;
    }

    /// <summary>Sets a value parsed from text, as a command line or scenario file gives it; <paramref name="where"/> prefixes errors.</summary>
    public ScenarioSpec WithText(Setting setting, string text, string where)
    {
        _values[setting] = setting.ParseValue(text, where);
        return this;
    }

    public bool IsSet(Setting setting) => _values.ContainsKey(setting);

    /// <summary>The settings this spec sets.</summary>
    public IEnumerable<Setting> SetSettings => _values.Keys;

    public bool TryGet<T>(Setting<T> setting, out T value) where T : notnull
    {
        if (_values.TryGetValue(setting, out var v)) { value = (T)v; return true; }
        value = default!;
        return false;
    }

    public T GetOr<T>(Setting<T> setting, T fallback) where T : notnull => TryGet(setting, out var v) ? v : fallback;

    /// <summary>The value of a text setting, or null.</summary>
    public string? Text(Setting<string> setting) => TryGet(setting, out var v) ? v : null;

    /// <summary>This spec with unset settings taken from <paramref name="under"/>.</summary>
    public ScenarioSpec Over(ScenarioSpec under)
    {
        var r = new ScenarioSpec();
        foreach (var (k, v) in under._values) r._values[k] = v;
        foreach (var (k, v) in _values) r._values[k] = v;
        return r;
    }

    /// <summary>Turns the spec into a validated cluster configuration and cost-model request.</summary>
    /// <param name="profileRoot">Where shipped measured profiles live (calibration/); with none, nothing measured is found by default.</param>
    public Scenario Resolve(string? profileRoot = null)
    {
        var profile = Text(S.Profile);
        var kind = Text(S.CostModel) ?? (profile != null ? CostModelFactory.Profile : CostModelFactory.DefaultKind);
        var gpu = Text(S.Gpu) is { } g ? Catalog.Gpu(g) : null;
        var model = Text(S.Model) is { } m ? Catalog.Model(m) : null;
        int? tp = TryGet(S.Tp, out var t) ? t : null;
        if (profile != null && (gpu == null || model == null || tp == null))
        {
            // A profile names the deployment it measured: what the user left unset comes from it.
            if (Directory.Exists(profile)) throw new ArgumentException($"--profile: '{profile}' is a directory; give its profile.parquet");
            if (!File.Exists(profile)) throw new FileNotFoundException($"--profile: '{profile}' does not exist", profile);
            var measured = MeasuredProfile.Load(profile).Metadata;
            model ??= measured.Model;
            tp ??= Math.Max(1, measured.TensorParallel);
            // A GPU the catalog does not know gets the datasheet the profile cost model builds from its own metadata.
            gpu ??= Catalog.TryGpu(measured.GpuName) ?? ProfileCostModel.FromFile(profile).Gpu;
        }
        model ??= Catalog.Model(DefaultModel);
        tp ??= 1;
        gpu ??= CostModelFactory.DefaultGpu(Catalog.Gpu(DefaultGpu), model, tp.Value, profileRoot);
        var node = Text(S.Node) is { } n
            ? (string.Equals(n, "none", StringComparison.OrdinalIgnoreCase) ? null : Catalog.Node(n))
            : Catalog.NodeFor(gpu.Name);
        var deployment = new Deployment(gpu, model, tp.Value, node);

        var offline = GetOr(S.Mode, "online") == "offline";
        var chunked = GetOr(S.ChunkedPrefill, true);
        var maxModelLen = GetOr(S.MaxModelLen, model.MaxContext);
        var (budget, seqs) = SimulateSettings.VllmDefaults(gpu, offline);
        // vLLM without chunked prefill: every prompt must fit one iteration, so the budget defaults to max(max_model_len, 2048).
        if (!chunked) budget = Math.Max(maxModelLen, 2048);
        var engine = new EngineConfig
        {
            Batching = GetOr(S.Batching, "continuous") == "static" ? BatchingKind.Static : BatchingKind.Continuous,
            ChunkedPrefill = chunked,
            MaxNumBatchedTokens = GetOr(S.MaxNumBatchedTokens, budget),
            MaxNumSeqs = GetOr(S.MaxNumSeqs, seqs),
            MaxModelLen = maxModelLen,
            BlockSize = GetOr(S.BlockSize, 16),
            GpuMemoryUtilization = GetOr(S.GpuMemoryUtilization, 0.9),
            KvBlocksOverride = TryGet(S.KvBlocks, out var kv) ? kv : null,
            PrefixCaching = GetOr(S.PrefixCaching, true),
            ReserveFullIsl = GetOr(S.SchedulerReserveFullIsl, true),
            HashBlockTokens = GetOr(S.HashBlockTokens, 512),
        };
        // An unset max_num_seqs never exceeds the budget the user chose.
        if (!IsSet(S.MaxNumSeqs)) engine = engine with { MaxNumSeqs = Math.Min(engine.MaxNumSeqs, engine.MaxNumBatchedTokens) };
        var cfg = new ClusterConfig
        {
            Name = Text(S.Name) ?? "default",
            Deployment = deployment,
            Instances = GetOr(S.Instances, 8),
            Engine = engine,
            Autoscaler = new Autoscaling.AutoscalerConfig
            {
                Kind = GetOr(S.Autoscaler, Autoscaling.AutoscalerNames.Fixed),
                MinInstances = GetOr(S.MinInstances, 1),
                Signal = GetOr(S.ScaleSignal, "requests"),
                Target = GetOr(S.ScaleTarget, GetOr(S.ScaleSignal, "requests") == "kv" ? 0.7 : 32),
                IntervalSeconds = GetOr(S.ScaleInterval, 15.0),
                ScaleUpWindowSeconds = GetOr(S.ScaleUpWindow, 0.0),
                ScaleDownWindowSeconds = GetOr(S.ScaleDownWindow, 300.0),
                Schedule = Text(S.Schedule),
                Headroom = GetOr(S.ScaleHeadroom, 0.2),
                WeightsFrom = GetOr(S.WeightsFrom, "nvme") switch { "host-memory" => WeightSource.HostMemory, "network" => WeightSource.Network, _ => WeightSource.Nvme },
            },
            Router = GetOr(S.Router, RouterNames.LeastOutstanding),
            OutputLengthOracle = GetOr(S.OutputLengthOracle, false),
            Mode = offline ? ArrivalMode.Offline : ArrivalMode.Online,
            Slo = new SloConfig(GetOr(S.TtftSlo, 2.0), GetOr(S.TpotSlo, 0.1)),
            Facility = new FacilityConfig(GetOr(S.Pue, 1.0), GetOr(S.Carbon, 0.0), GetOr(S.Price, 0.0)),
            CarbonSet = IsSet(S.Carbon),
            PriceSet = IsSet(S.Price),
            Seed = GetOr(S.Seed, 42),
            PowerBinSeconds = GetOr(S.PowerBin, 1.0),
            Clock = Clocks.ClockSettings.From(this),
        };
        cfg.Validate();
        var cost = new CostModelRequest(kind, gpu, model, tp.Value, profile, profileRoot) { IterationOverheadSeconds = GetOr(S.IterationOverheadMs, 0.0) / 1000 };
        var auto = string.Equals(kind, CostModelFactory.Auto, StringComparison.OrdinalIgnoreCase);
        var shipped = CostModelFactory.FindProfile(cost);
        var note = auto && shipped == null ? $"roofline (no measured profile for {deployment})" : null;
        var derived = auto && CostModelFactory.FindMeasuredProfile(cost) == null ? CostModelFactory.FindDerivedProfile(cost) : null;
        var roofline = string.Equals(kind, CostModelFactory.Roofline, StringComparison.OrdinalIgnoreCase);
        return new Scenario(cfg with { CostModelLabel = note }, cost)
        {
            DerivedProfile = derived,
            ProfilePath = roofline ? null : profile ?? shipped,
            ShadowedProfile = profile is null && !roofline ? CostModelFactory.ShadowedProfileWarning(shipped, profileRoot) : null,
        };
    }
}

/// <summary>A resolved configuration: the cluster and how to price its iterations.</summary>
public sealed record Scenario(ClusterConfig Cluster, CostModelRequest Cost)
{
    public ICostModel CreateCostModel() => CostModelFactory.Create(Cost);

    /// <summary>
    /// Why this scenario is not priced by a measured profile, when the auto kind found none for its deployment
    /// (stderr warns with it; the summary names the cost model with it); null otherwise.
    /// </summary>
    public string? CostModelNote => Cluster.CostModelLabel;

    /// <summary>The derived profile the auto kind chose because no measured one ships for the deployment, or null.</summary>
    public string? DerivedProfile { get; init; }

    /// <summary>The profile file that prices the scenario (given, else the shipped one found for it); null when the roofline does.</summary>
    public string? ProfilePath { get; init; }

    /// <summary>Set when the working directory's calibration/ holds another file where the profile used was found (<see cref="CostModelFactory.ShadowedProfileWarning"/>): the warning to print.</summary>
    public string? ShadowedProfile { get; init; }
}

/// <summary>Builds each distinct cost model of a set of scenarios once (a profile is loaded and fitted once however many scenarios use it).</summary>
public static class ScenarioCostModels
{
    public static IReadOnlyList<ICostModel> Create(IReadOnlyList<Scenario> scenarios)
    {
        var built = new Dictionary<CostModelRequest, ICostModel>();
        var result = new ICostModel[scenarios.Count];
        for (var i = 0; i < scenarios.Count; i++)
        {
            var req = scenarios[i].Cost;
            if (!built.TryGetValue(req, out var model)) built[req] = model = scenarios[i].CreateCostModel();
            result[i] = model;
        }
        return result;
    }
}
