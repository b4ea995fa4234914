using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Joules.Profiles.Measured;

/// <summary>Column names of the profile file, shared by every on-disk format so they stay identical.</summary>
public static class ProfileColumns
{
    public const string Phase = "phase";
    public const string BatchSize = "batch_size";
    public const string NewTokens = "new_tokens";
    public const string ContextTokens = "context_tokens";
    public const string DecodeSequences = "decode_sequences";
    public const string DecodeContext = "decode_context";
    public const string TpDegree = "tp_degree";
    public const string SmClockTarget = "sm_clock_target";
    public const string IterationSeconds = "iteration_s";
    public const string EnergyJoules = "energy_j";
    public const string MeanPowerWatts = "mean_power_w";
    public const string SmClockMHz = "sm_clock_mhz";
    public const string TemperatureC = "temperature_c";
    public const string ThrottleReasons = "throttle_reasons";
    public const string Repeats = "repeats";
    public const string CvTime = "cv_time";
    public const string CvEnergy = "cv_energy";

    public static string PhaseName(ProfilePhase p) => p switch
    {
        ProfilePhase.Prefill => "prefill",
        ProfilePhase.Decode => "decode",
        ProfilePhase.Mixed => "mixed",
        _ => "idle",
    };

    public static ProfilePhase ParsePhase(string s, string where) => s switch
    {
        "prefill" => ProfilePhase.Prefill,
        "decode" => ProfilePhase.Decode,
        "mixed" => ProfilePhase.Mixed,
        "idle" => ProfilePhase.Idle,
        _ => throw new InvalidDataException($"{where}: phase must be prefill, decode, mixed or idle, got '{s}'"),
    };
}

/// <summary>Writes a <see cref="MeasuredProfile"/> to disk: the one place that knows profile file formats.</summary>
/// <remarks>
/// ".json" writes the JSON layout (metadata object of string key/values plus one object per point with
/// the Parquet column names). ".parquet" is the format DESIGN.md names; it is written through
/// Joules.Parquet once that library is merged.
/// </remarks>
public static class ProfileWriter
{
    public static void Write(MeasuredProfile profile, string path)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
        switch (Path.GetExtension(path).ToLowerInvariant())
        {
            case ".json":
                WriteJson(profile, path);
                break;
            case ".parquet":
                throw new NotSupportedException($"{path}: Parquet profiles need Joules.Parquet, which is not in this build yet; write a .json profile");
            default:
                throw new ArgumentException($"{path}: unknown profile file extension; use .json or .parquet");
        }
    }

    private static void WriteJson(MeasuredProfile profile, string path)
    {
        var meta = new JsonObject();
        foreach (var (k, v) in profile.Metadata.ToKeyValues()) meta[k] = v;
        var rows = new JsonArray();
        foreach (var p in profile.Points)
        {
            rows.Add(new JsonObject
            {
                [ProfileColumns.Phase] = ProfileColumns.PhaseName(p.Phase),
                [ProfileColumns.BatchSize] = p.BatchSize,
                [ProfileColumns.NewTokens] = p.NewTokens,
                [ProfileColumns.ContextTokens] = p.ContextTokens,
                [ProfileColumns.DecodeSequences] = p.DecodeSequences,
                [ProfileColumns.DecodeContext] = p.DecodeContext,
                [ProfileColumns.TpDegree] = p.TpDegree,
                [ProfileColumns.SmClockTarget] = p.SmClockTarget,
                [ProfileColumns.IterationSeconds] = Num(p.IterationSeconds),
                [ProfileColumns.EnergyJoules] = Num(p.EnergyJoules),
                [ProfileColumns.MeanPowerWatts] = Num(p.MeanPowerWatts),
                [ProfileColumns.SmClockMHz] = Num(p.SmClockMHz),
                [ProfileColumns.TemperatureC] = Num(p.TemperatureC),
                [ProfileColumns.ThrottleReasons] = p.ThrottleReasons,
                [ProfileColumns.Repeats] = p.Repeats,
                [ProfileColumns.CvTime] = Num(p.CvTime),
                [ProfileColumns.CvEnergy] = Num(p.CvEnergy),
            });
        }
        var root = new JsonObject { ["format"] = "joules-profile", ["metadata"] = meta, ["points"] = rows };
        var tmp = path + ".tmp";
        File.WriteAllText(tmp, root.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
        File.Move(tmp, path, overwrite: true);
    }

    // JSON has no NaN/Infinity; a measurement that produced one is written as null and read back as NaN.
    private static JsonNode? Num(double d) => double.IsFinite(d) ? JsonValue.Create(d) : null;
}

/// <summary>Reads profile files written by <see cref="ProfileWriter"/>; errors name the file, row and column.</summary>
public static class ProfileReader
{
    public static MeasuredProfile Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"profile not found: {path}", path);
        return Path.GetExtension(path).ToLowerInvariant() switch
        {
            ".json" => ReadJson(path),
            ".parquet" => throw new NotSupportedException($"{path}: Parquet profiles need Joules.Parquet, which is not in this build yet"),
            _ => throw new ArgumentException($"{path}: unknown profile file extension; expected .json or .parquet"),
        };
    }

    private static MeasuredProfile ReadJson(string path)
    {
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(File.ReadAllText(path));
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: not valid JSON ({e.Message})", e);
        }
        if (root is not JsonObject obj || (string?)obj["format"] != "joules-profile")
            throw new InvalidDataException($"{path}: not a joules profile (no \"format\": \"joules-profile\")");
        if (obj["metadata"] is not JsonObject meta) throw new InvalidDataException($"{path}: no metadata object");
        var kv = new Dictionary<string, string>();
        foreach (var (k, v) in meta) kv[k] = v?.GetValue<string>() ?? "";
        var metadata = ProfileMetadata.FromKeyValues(kv, path);
        if (obj["points"] is not JsonArray rows) throw new InvalidDataException($"{path}: no points array");
        var points = new List<ProfilePoint>(rows.Count);
        for (var i = 0; i < rows.Count; i++)
        {
            var where = $"{path}: row {i}";
            if (rows[i] is not JsonObject r) throw new InvalidDataException($"{where}: not an object");
            int Int(string col) => r[col] is JsonValue v && v.TryGetValue<int>(out var x) ? x : throw new InvalidDataException($"{where}, column {col}: missing or not an integer");
            long Long(string col) => r[col] is JsonValue v && v.TryGetValue<long>(out var x) ? x : throw new InvalidDataException($"{where}, column {col}: missing or not an integer");
            double Dbl(string col)
            {
                if (!r.ContainsKey(col)) throw new InvalidDataException($"{where}, column {col}: missing");
                if (r[col] is null) return double.NaN;
                return r[col] is JsonValue v && v.TryGetValue<double>(out var x) ? x : throw new InvalidDataException($"{where}, column {col}: not a number");
            }
            int? clock = r[ProfileColumns.SmClockTarget] is null ? null : Int(ProfileColumns.SmClockTarget);
            var phase = r[ProfileColumns.Phase] is JsonValue pv && pv.TryGetValue<string>(out var ps) ? ps
                : throw new InvalidDataException($"{where}, column {ProfileColumns.Phase}: missing");
            points.Add(new ProfilePoint
            {
                Phase = ProfileColumns.ParsePhase(phase, $"{where}, column {ProfileColumns.Phase}"),
                BatchSize = Int(ProfileColumns.BatchSize),
                NewTokens = Int(ProfileColumns.NewTokens),
                ContextTokens = Int(ProfileColumns.ContextTokens),
                DecodeSequences = Int(ProfileColumns.DecodeSequences),
                DecodeContext = Int(ProfileColumns.DecodeContext),
                TpDegree = Int(ProfileColumns.TpDegree),
                SmClockTarget = clock,
                IterationSeconds = Dbl(ProfileColumns.IterationSeconds),
                EnergyJoules = Dbl(ProfileColumns.EnergyJoules),
                MeanPowerWatts = Dbl(ProfileColumns.MeanPowerWatts),
                SmClockMHz = Dbl(ProfileColumns.SmClockMHz),
                TemperatureC = Dbl(ProfileColumns.TemperatureC),
                ThrottleReasons = Long(ProfileColumns.ThrottleReasons),
                Repeats = Int(ProfileColumns.Repeats),
                CvTime = Dbl(ProfileColumns.CvTime),
                CvEnergy = Dbl(ProfileColumns.CvEnergy),
            });
        }
        return new MeasuredProfile(metadata, points);
    }
}
