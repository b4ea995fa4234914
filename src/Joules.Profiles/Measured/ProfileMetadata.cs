using System.Globalization;
using System.Text.Json;
using Joules.Profiles.Derived;

namespace Joules.Profiles.Measured;

/// <summary>Where, on what and how a profile was measured; stored as the profile file's key/value metadata.</summary>
public sealed record ProfileMetadata
{
    /// <summary>Version of the profile layout; readers refuse files newer than they understand.</summary>
    public const int CurrentFormatVersion = 1;

    /// <summary>Extra key, only for a profile measured on more than one card (a calibration resumed on another card of the same model): each card's UUID and its point count, gpu.uuid (the card that measured idle) first.</summary>
    public const string CardsKey = "gpu.cards";

    /// <summary>Prefix of the extra keys that say which engine measured the profile (attention and projection paths, graphs, the kernels' source hash).</summary>
    public const string EngineKeyPrefix = "engine.";

    /// <summary>
    /// What replaces <see cref="EngineKeyPrefix"/> in the labels of a server that names its kernels (engine.decode_attention
    /// is label kernel_decode_attention: a Prometheus label has no dots); here because the server writes them and the
    /// validator reads them, and neither depends on the other.
    /// </summary>
    public const string KernelLabelPrefix = "kernel_";

    /// <summary>The <see cref="EngineKeyPrefix"/> entries of <paramref name="extra"/>, ordered by key (ordinal).</summary>
    public static IReadOnlyList<KeyValuePair<string, string>> EngineEntries(IReadOnlyDictionary<string, string> extra) =>
        extra.Where(kv => kv.Key.StartsWith(EngineKeyPrefix, StringComparison.Ordinal)).OrderBy(kv => kv.Key, StringComparer.Ordinal).ToArray();

    public int FormatVersion { get; init; } = CurrentFormatVersion;
    public required string GpuName { get; init; }
    public string GpuUuid { get; init; } = "";
    public string DriverVersion { get; init; } = "";
    public string CudaVersion { get; init; } = "";
    public double PowerLimitWatts { get; init; }
    public required ModelCard Model { get; init; }
    public int TensorParallel { get; init; } = 1;
    /// <summary>Description of the grid that was measured (the grid's JSON as the calibrator wrote it).</summary>
    public string Grid { get; init; } = "";
    public string ToolVersion { get; init; } = "";
    public DateTimeOffset CreatedUtc { get; init; } = DateTimeOffset.UnixEpoch;
    /// <summary>Idle power of one GPU, measured with nothing running.</summary>
    public double IdlePowerWatts { get; init; }
    /// <summary>Command line that produced the profile, for provenance.</summary>
    public string Command { get; init; } = "";
    /// <summary>How the profile was derived from a measured one (`joules profile derive`), or null for a measured profile.</summary>
    public DerivedProvenance? Derived { get; init; }
    /// <summary>Whether the profile's numbers are derived (estimated for a GPU from another GPU's measurements) rather than measured.</summary>
    public bool IsDerived => Derived is not null;
    /// <summary>Any further key/values (kept on round trips so newer writers' keys survive older readers).</summary>
    public IReadOnlyDictionary<string, string> Extra { get; init; } = new Dictionary<string, string>();

    private static readonly string[] s_knownKeys =
    [
        "joules.format_version", "gpu.name", "gpu.uuid", "gpu.driver_version", "gpu.cuda_version", "gpu.power_limit_w",
        "model.card", "model.name", "tp_degree", "grid", "tool_version", "created_utc", "idle_power_w", "command",
    ];

    /// <summary>The metadata as flat string key/values (what Parquet's file metadata holds).</summary>
    public IReadOnlyDictionary<string, string> ToKeyValues()
    {
        var kv = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var (k, v) in Extra) kv[k] = v;
        kv["joules.format_version"] = FormatVersion.ToString(CultureInfo.InvariantCulture);
        kv["gpu.name"] = GpuName;
        kv["gpu.uuid"] = GpuUuid;
        kv["gpu.driver_version"] = DriverVersion;
        kv["gpu.cuda_version"] = CudaVersion;
        kv["gpu.power_limit_w"] = PowerLimitWatts.ToString("R", CultureInfo.InvariantCulture);
        kv["model.card"] = JsonSerializer.Serialize(Model);
        kv["model.name"] = Model.Name;
        kv["tp_degree"] = TensorParallel.ToString(CultureInfo.InvariantCulture);
        kv["grid"] = Grid;
        kv["tool_version"] = ToolVersion;
        kv["created_utc"] = CreatedUtc.UtcDateTime.ToString("O", CultureInfo.InvariantCulture);
        kv["idle_power_w"] = IdlePowerWatts.ToString("R", CultureInfo.InvariantCulture);
        kv["command"] = Command;
        if (Derived is not null)
            foreach (var (k, v) in Derived.ToKeyValues()) kv[k] = v;
        return kv;
    }

    /// <summary>Parses key/values written by <see cref="ToKeyValues"/>; <paramref name="source"/> names the file in errors.</summary>
    public static ProfileMetadata FromKeyValues(IReadOnlyDictionary<string, string> kv, string source)
    {
        string Get(string key) => kv.TryGetValue(key, out var v) ? v : throw new InvalidDataException($"{source}: profile metadata lacks '{key}'");
        string Opt(string key) => kv.TryGetValue(key, out var v) ? v : "";
        double Dbl(string key)
        {
            var s = Opt(key);
            if (s.Length == 0) return 0;
            return double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) ? d
                : throw new InvalidDataException($"{source}: profile metadata '{key}' is not a number: '{s}'");
        }
        int Int(string key, int dflt)
        {
            var s = Opt(key);
            if (s.Length == 0) return dflt;
            return int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var i) ? i
                : throw new InvalidDataException($"{source}: profile metadata '{key}' is not an integer: '{s}'");
        }

        var version = Int("joules.format_version", 1);
        if (version > CurrentFormatVersion)
            throw new InvalidDataException($"{source}: profile format version {version} is newer than this joules understands ({CurrentFormatVersion}); upgrade joules");
        ModelCard model;
        try
        {
            model = JsonSerializer.Deserialize<ModelCard>(Get("model.card")) ?? throw new InvalidDataException($"{source}: empty model card");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{source}: profile metadata 'model.card' is not a valid model card ({e.Message})", e);
        }
        var created = DateTimeOffset.UnixEpoch;
        if (Opt("created_utc") is { Length: > 0 } c && !DateTimeOffset.TryParse(c, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out created))
            throw new InvalidDataException($"{source}: profile metadata 'created_utc' is not a date: '{c}'");
        var derived = DerivedProvenance.FromKeyValues(kv, source);
        var extra = kv.Where(p => Array.IndexOf(s_knownKeys, p.Key) < 0 && !(derived is not null && p.Key.StartsWith(DerivedProvenance.KeyPrefix, StringComparison.Ordinal)))
            .ToDictionary(p => p.Key, p => p.Value);
        return new ProfileMetadata
        {
            FormatVersion = version,
            GpuName = Get("gpu.name"),
            GpuUuid = Opt("gpu.uuid"),
            DriverVersion = Opt("gpu.driver_version"),
            CudaVersion = Opt("gpu.cuda_version"),
            PowerLimitWatts = Dbl("gpu.power_limit_w"),
            Model = model,
            TensorParallel = Int("tp_degree", 1),
            Grid = Opt("grid"),
            ToolVersion = Opt("tool_version"),
            CreatedUtc = created.ToUniversalTime(),
            IdlePowerWatts = Dbl("idle_power_w"),
            Command = Opt("command"),
            Derived = derived,
            Extra = extra,
        };
    }

    /// <summary>Equality over the key/value form (records compare dictionaries by reference otherwise).</summary>
    public bool SameAs(ProfileMetadata other) =>
        ToKeyValues().OrderBy(p => p.Key, StringComparer.Ordinal).SequenceEqual(other.ToKeyValues().OrderBy(p => p.Key, StringComparer.Ordinal));
}
