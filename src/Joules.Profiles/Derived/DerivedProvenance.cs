using System.Globalization;
using System.Text.Json;

namespace Joules.Profiles.Derived;

/// <summary>
/// Marks a profile as derived rather than measured and says from what: the measured source profile (path and
/// SHA-256), the method and its fitted constants, the source's measured rates, both datasheets and the tool
/// version. Stored as <c>derived.*</c> key/values in the profile's metadata; a profile without them is measured.
/// </summary>
public sealed record DerivedProvenance
{
    /// <summary>Metadata key prefix of every derivation field.</summary>
    public const string KeyPrefix = "derived.";

    /// <summary>Path of the measured profile the numbers come from, as given to `joules profile derive`.</summary>
    public required string From { get; init; }
    /// <summary>SHA-256 of the source profile file (lower-case hex).</summary>
    public required string FromSha256 { get; init; }
    /// <summary>Name and version of the derivation method (see <see cref="ProfileDeriver.MethodName"/>).</summary>
    public required string Method { get; init; }
    /// <summary>The GPU the source was measured on (NVML name and UUID).</summary>
    public required string SourceGpu { get; init; }
    public required GpuSpec SourceDatasheet { get; init; }
    public required GpuSpec TargetDatasheet { get; init; }
    /// <summary>Measured GEMM rate and copy bandwidth of the source GPU that split each point into its parts.</summary>
    public required MeasuredRates SourceRates { get; init; }
    /// <summary>Per-iteration overhead kept unscaled (seconds, one GPU).</summary>
    public double FixedOverheadSeconds { get; init; }
    /// <summary>Fitted measured time per unit of stage floor on the source (1 = at the floor): GEMM memory-bound, GEMM compute-bound, decode attention, prefill attention.</summary>
    public IReadOnlyList<double> StageMultipliers { get; init; } = [];
    /// <summary>Static (idle) power of one source GPU and of one target GPU, and the factor dynamic power was scaled by.</summary>
    public double SourceStaticWatts { get; init; }
    public double TargetStaticWatts { get; init; }
    public double DynamicPowerScale { get; init; }
    /// <summary>Tensor-parallel degree of the source's shard and of the derived one (equal, or 0 when not recorded: a GPU change only).</summary>
    public int SourceTp { get; init; }
    public int TargetTp { get; init; }
    /// <summary>Whether the derivation changed the shard's tensor-parallel degree.</summary>
    public bool Reshards => TargetTp > 0 && SourceTp > 0 && TargetTp != SourceTp;
    /// <summary>Source points the derivation left out, each with the reason (locked SM clock, or too big for the target's memory).</summary>
    public IReadOnlyList<string> Dropped { get; init; } = [];
    /// <summary>Joules version that derived the profile.</summary>
    public string ToolVersion { get; init; } = "";
    /// <summary>Joules version and date of the source measurement.</summary>
    public string SourceToolVersion { get; init; } = "";
    public string SourceCreatedUtc { get; init; } = "";

    /// <summary>One line for reports and logs: what this profile is and where its numbers come from.</summary>
    public string Note => Reshards
        ? $"derived, not measured: a tp{TargetTp} shard on {TargetDatasheet.DisplayName ?? TargetDatasheet.Name} estimated from tp{SourceTp}-shard measurements on {SourceDatasheet.DisplayName ?? SourceDatasheet.Name} ({From}) by {Method}"
        : $"derived, not measured: {TargetDatasheet.DisplayName ?? TargetDatasheet.Name} estimated from {SourceDatasheet.DisplayName ?? SourceDatasheet.Name} measurements ({From}) by {Method}";

    /// <summary>The derivation as flat metadata key/values, all under <see cref="KeyPrefix"/>.</summary>
    public IEnumerable<KeyValuePair<string, string>> ToKeyValues()
    {
        var inv = CultureInfo.InvariantCulture;
        KeyValuePair<string, string> Kv(string k, string v) => new(KeyPrefix + k, v);
        yield return Kv("from", From);
        yield return Kv("from_sha256", FromSha256);
        yield return Kv("method", Method);
        yield return Kv("source_gpu", SourceGpu);
        yield return Kv("source_datasheet", JsonSerializer.Serialize(SourceDatasheet));
        yield return Kv("target_datasheet", JsonSerializer.Serialize(TargetDatasheet));
        yield return Kv("source_gemm_flops_per_s", SourceRates.GemmFlopsPerSecond.ToString("R", inv));
        yield return Kv("source_copy_bytes_per_s", SourceRates.CopyBytesPerSecond.ToString("R", inv));
        yield return Kv("source_rates_from", SourceRates.Source);
        yield return Kv("source_rates_sha256", SourceRates.SourceSha256);
        yield return Kv("fixed_overhead_s", FixedOverheadSeconds.ToString("R", inv));
        yield return Kv("stage_multipliers", string.Join(',', StageMultipliers.Select(m => m.ToString("R", inv))));
        yield return Kv("source_static_w", SourceStaticWatts.ToString("R", inv));
        yield return Kv("target_static_w", TargetStaticWatts.ToString("R", inv));
        yield return Kv("dynamic_power_scale", DynamicPowerScale.ToString("R", inv));
        // Only a re-shard records the degrees, so derived profiles of a GPU change read as they always did.
        if (Reshards)
        {
            yield return Kv("source_tp", SourceTp.ToString(inv));
            yield return Kv("target_tp", TargetTp.ToString(inv));
        }
        yield return Kv("dropped", JsonSerializer.Serialize(Dropped));
        yield return Kv("tool_version", ToolVersion);
        yield return Kv("source_tool_version", SourceToolVersion);
        yield return Kv("source_created_utc", SourceCreatedUtc);
    }

    private static string[] ParseList(string json, string source)
    {
        try
        {
            return JsonSerializer.Deserialize<string[]>(json) ?? [];
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{source}: derived profile metadata '{KeyPrefix}dropped' is not a JSON list of strings ({e.Message})", e);
        }
    }

    /// <summary>The derivation recorded in <paramref name="kv"/>, or null when the profile is measured (no <c>derived.from</c> key); <paramref name="source"/> names the file in errors.</summary>
    public static DerivedProvenance? FromKeyValues(IReadOnlyDictionary<string, string> kv, string source)
    {
        if (!kv.ContainsKey(KeyPrefix + "from")) return null;
        string Get(string key) => kv.TryGetValue(KeyPrefix + key, out var v) ? v
            : throw new InvalidDataException($"{source}: derived profile metadata lacks '{KeyPrefix}{key}'");
        string Opt(string key) => kv.TryGetValue(KeyPrefix + key, out var v) ? v : "";
        double Dbl(string key)
        {
            var s = Get(key);
            return double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) ? d
                : throw new InvalidDataException($"{source}: derived profile metadata '{KeyPrefix}{key}' is not a number: '{s}'");
        }
        GpuSpec Gpu(string key)
        {
            try
            {
                return JsonSerializer.Deserialize<GpuSpec>(Get(key)) ?? throw new InvalidDataException($"{source}: '{KeyPrefix}{key}' is empty");
            }
            catch (JsonException e)
            {
                throw new InvalidDataException($"{source}: derived profile metadata '{KeyPrefix}{key}' is not a GPU datasheet ({e.Message})", e);
            }
        }
        var multipliers = Opt("stage_multipliers") is { Length: > 0 } m
            ? m.Split(',').Select(x => double.TryParse(x, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) ? d
                : throw new InvalidDataException($"{source}: derived profile metadata '{KeyPrefix}stage_multipliers' holds '{x}', not a number")).ToArray()
            : [];
        return new DerivedProvenance
        {
            From = Get("from"),
            FromSha256 = Get("from_sha256"),
            Method = Get("method"),
            SourceGpu = Opt("source_gpu"),
            SourceDatasheet = Gpu("source_datasheet"),
            TargetDatasheet = Gpu("target_datasheet"),
            SourceRates = new MeasuredRates(Dbl("source_gemm_flops_per_s"), Dbl("source_copy_bytes_per_s"), Opt("source_rates_from"), Opt("source_rates_sha256")),
            FixedOverheadSeconds = Dbl("fixed_overhead_s"),
            StageMultipliers = multipliers,
            SourceStaticWatts = Dbl("source_static_w"),
            TargetStaticWatts = Dbl("target_static_w"),
            DynamicPowerScale = Dbl("dynamic_power_scale"),
            SourceTp = Opt("source_tp") is { Length: > 0 } st && int.TryParse(st, NumberStyles.Integer, CultureInfo.InvariantCulture, out var sti) ? sti : 0,
            TargetTp = Opt("target_tp") is { Length: > 0 } tt && int.TryParse(tt, NumberStyles.Integer, CultureInfo.InvariantCulture, out var tti) ? tti : 0,
            Dropped = Opt("dropped") is { Length: > 0 } d ? ParseList(d, source) : [],
            ToolVersion = Opt("tool_version"),
            SourceToolVersion = Opt("source_tool_version"),
            SourceCreatedUtc = Opt("source_created_utc"),
        };
    }
}
