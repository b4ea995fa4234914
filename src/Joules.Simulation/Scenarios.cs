using Joules.Profiles;
using Joules.Profiles.Measured;
using YamlDotNet.Core;
using YamlDotNet.Serialization;
using YamlDotNet.Serialization.NamingConventions;

namespace Joules.Simulation;

/// <summary>
/// One configuration to simulate, every field optional: unset fields fall back to the layer below
/// (scenario entry over the file's <c>defaults</c> over command-line options over built-in defaults).
/// YAML keys are the snake_case property names.
/// </summary>
public sealed class ScenarioSpec
{
    public string? Name { get; set; }
    public string? CostModel { get; set; }
    public string? Profile { get; set; }
    public string? Gpu { get; set; }
    public string? Model { get; set; }
    public int? Tp { get; set; }
    public int? Instances { get; set; }
    public string? Router { get; set; }
    public string? Mode { get; set; }
    public string? Batching { get; set; }
    public bool? ChunkedPrefill { get; set; }
    public int? MaxNumBatchedTokens { get; set; }
    public int? MaxNumSeqs { get; set; }
    public int? BlockSize { get; set; }
    public double? GpuMemoryUtilization { get; set; }
    public int? KvBlocks { get; set; }
    public double? TtftSlo { get; set; }
    public double? TpotSlo { get; set; }
    public double? Pue { get; set; }
    public double? Carbon { get; set; }
    public double? Price { get; set; }
    public int? Seed { get; set; }
    public double? PowerBin { get; set; }

    public const string DefaultGpu = "h100-sxm";
    public const string DefaultModel = "llama-3.1-8b";

    /// <summary>This spec with unset fields taken from <paramref name="under"/>.</summary>
    public ScenarioSpec Over(ScenarioSpec under) => new()
    {
        Name = Name ?? under.Name, CostModel = CostModel ?? under.CostModel, Profile = Profile ?? under.Profile,
        Gpu = Gpu ?? under.Gpu, Model = Model ?? under.Model, Tp = Tp ?? under.Tp, Instances = Instances ?? under.Instances,
        Router = Router ?? under.Router, Mode = Mode ?? under.Mode, Batching = Batching ?? under.Batching,
        ChunkedPrefill = ChunkedPrefill ?? under.ChunkedPrefill, MaxNumBatchedTokens = MaxNumBatchedTokens ?? under.MaxNumBatchedTokens,
        MaxNumSeqs = MaxNumSeqs ?? under.MaxNumSeqs, BlockSize = BlockSize ?? under.BlockSize,
        GpuMemoryUtilization = GpuMemoryUtilization ?? under.GpuMemoryUtilization, KvBlocks = KvBlocks ?? under.KvBlocks,
        TtftSlo = TtftSlo ?? under.TtftSlo, TpotSlo = TpotSlo ?? under.TpotSlo, Pue = Pue ?? under.Pue, Carbon = Carbon ?? under.Carbon,
        Price = Price ?? under.Price, Seed = Seed ?? under.Seed, PowerBin = PowerBin ?? under.PowerBin,
    };

    /// <summary>Turns the spec into a validated cluster configuration and cost-model request.</summary>
    /// <param name="profileRoot">Where shipped measured profiles live (the repository's calibration/ folder); with none, nothing measured is found by default.</param>
    public Scenario Resolve(string? profileRoot = null)
    {
        var engine = new EngineConfig();
        var batching = (Batching ?? "continuous").ToLowerInvariant() switch
        {
            "continuous" => BatchingKind.Continuous,
            "static" => BatchingKind.Static,
            var b => throw new ArgumentException($"unknown batching '{b}': expected continuous or static"),
        };
        engine = engine with
        {
            Batching = batching,
            ChunkedPrefill = ChunkedPrefill ?? engine.ChunkedPrefill,
            MaxNumBatchedTokens = MaxNumBatchedTokens ?? engine.MaxNumBatchedTokens,
            MaxNumSeqs = MaxNumSeqs ?? engine.MaxNumSeqs,
            BlockSize = BlockSize ?? engine.BlockSize,
            GpuMemoryUtilization = GpuMemoryUtilization ?? engine.GpuMemoryUtilization,
            KvBlocksOverride = KvBlocks,
        };
        var mode = (Mode ?? "online").ToLowerInvariant() switch
        {
            "online" => ArrivalMode.Online,
            "offline" => ArrivalMode.Offline,
            var m => throw new ArgumentException($"unknown mode '{m}': expected online or offline"),
        };
        var router = (Router ?? RouterNames.LeastOutstanding).ToLowerInvariant();
        var defaults = new ClusterConfig();
        var cfg = new ClusterConfig
        {
            Name = Name ?? "default",
            Instances = Instances ?? defaults.Instances,
            Engine = engine,
            Router = router,
            Mode = mode,
            Slo = new SloConfig(TtftSlo ?? defaults.Slo.TtftSeconds, TpotSlo ?? defaults.Slo.TpotSeconds),
            Facility = new FacilityConfig(Pue ?? 1.0, Carbon ?? 0, Price ?? 0),
            Seed = Seed ?? defaults.Seed,
            PowerBinSeconds = PowerBin ?? defaults.PowerBinSeconds,
        };
        cfg.Validate();
        var kind = CostModel ?? (Profile != null ? CostModelFactory.Profile : CostModelFactory.DefaultKind);
        var gpu = Gpu != null ? Catalog.Gpu(Gpu) : null;
        var model = Model != null ? Catalog.Model(Model) : null;
        var tp = Tp;
        if (Profile != null && (gpu == null || model == null || tp == null))
        {
            // A profile names the deployment it measured: what the user left unset comes from it.
            if (!File.Exists(Profile)) throw new FileNotFoundException($"profile '{Profile}' does not exist", Profile);
            var measured = MeasuredProfile.Load(Profile).Metadata;
            model ??= measured.Model;
            tp ??= Math.Max(1, measured.TensorParallel);
            // A GPU the catalog does not know gets the datasheet the profile cost model builds from its own metadata.
            gpu ??= Catalog.TryGpu(measured.GpuName) ?? ProfileCostModel.FromFile(Profile).Gpu;
        }
        model ??= Catalog.Model(DefaultModel);
        gpu ??= CostModelFactory.DefaultGpu(Catalog.Gpu(DefaultGpu), model, tp ?? 1, profileRoot);
        var cost = new CostModelRequest(kind, gpu, model, tp ?? 1, Profile, profileRoot);
        if (cost.TensorParallel < 1) throw new ArgumentException($"tp must be at least 1, got {cost.TensorParallel}");
        return new Scenario(cfg, cost);
    }
}

/// <summary>A resolved configuration: the cluster and how to price its iterations.</summary>
public sealed record Scenario(ClusterConfig Cluster, CostModelRequest Cost)
{
    public ICostModel CreateCostModel() => CostModelFactory.Create(Cost);
}

/// <summary>A scenario file: an optional trace, shared defaults, and the configurations to compare on that trace.</summary>
public sealed class ScenarioFile
{
    public string? Trace { get; set; }
    public ScenarioSpec? Defaults { get; set; }
    public List<ScenarioSpec> Scenarios { get; set; } = [];

    private static readonly IDeserializer s_yaml = new DeserializerBuilder()
        .WithNamingConvention(UnderscoredNamingConvention.Instance)
        .Build();

    /// <summary>Parses a scenario file; errors name the file, line and column.</summary>
    public static ScenarioFile Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"scenario file '{path}' does not exist", path);
        return Parse(File.ReadAllText(path), path);
    }

    public static ScenarioFile Parse(string yaml, string source = "<scenario>")
    {
        ScenarioFile? file;
        try
        {
            file = s_yaml.Deserialize<ScenarioFile>(yaml);
        }
        catch (YamlException e)
        {
            var msg = (e.InnerException?.Message ?? e.Message).Trim();
            // YamlDotNet prefixes its own position; keep only the reason.
            var cut = msg.IndexOf("): ", StringComparison.Ordinal);
            if (msg.StartsWith('(') && cut > 0) msg = msg[(cut + 3)..];
            throw new InvalidDataException($"{source}:{e.Start.Line}:{e.Start.Column}: {msg}", e);
        }
        if (file == null || file.Scenarios.Count == 0)
            throw new InvalidDataException($"{source}: no scenarios (expected a 'scenarios:' list with at least one entry)");
        for (var i = 0; i < file.Scenarios.Count; i++)
            file.Scenarios[i].Name ??= $"scenario-{i + 1}";
        var dup = file.Scenarios.GroupBy(s => s.Name).FirstOrDefault(g => g.Count() > 1);
        if (dup != null) throw new InvalidDataException($"{source}: scenario name '{dup.Key}' is used more than once");
        return file;
    }
}
