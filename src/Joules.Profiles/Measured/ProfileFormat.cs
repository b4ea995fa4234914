using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Joules.Output;
using Joules.Parquet;

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
/// ".parquet" (the format DESIGN.md names) writes one row per point with the <see cref="ProfileColumns"/>
/// columns and the metadata as the file's key/value pairs. ".json" writes the same thing as JSON
/// (metadata object of string key/values, one object per point with the same column names), for
/// hand inspection and diffs.
/// </remarks>
public static class ProfileWriter
{
    public static void Write(MeasuredProfile profile, string path)
    {
        // Both formats go through AtomicFile (it creates missing folders): an interrupted write leaves the previous profile.
        switch (Path.GetExtension(path).ToLowerInvariant())
        {
            case ".json":
                WriteJson(profile, path);
                break;
            case ".parquet":
                WriteParquet(profile, path);
                break;
            default:
                throw new ArgumentException($"{path}: unknown profile file extension; use .json or .parquet");
        }
    }

    /// <summary>The Parquet schema of a profile: one row per measured point.</summary>
    public static ParquetSchema ParquetSchema { get; } = new([
        ParquetColumn.String(ProfileColumns.Phase),
        ParquetColumn.Int32(ProfileColumns.BatchSize),
        ParquetColumn.Int32(ProfileColumns.NewTokens),
        ParquetColumn.Int32(ProfileColumns.ContextTokens),
        ParquetColumn.Int32(ProfileColumns.DecodeSequences),
        ParquetColumn.Int32(ProfileColumns.DecodeContext),
        ParquetColumn.Int32(ProfileColumns.TpDegree),
        ParquetColumn.Int32(ProfileColumns.SmClockTarget, optional: true),
        ParquetColumn.Double(ProfileColumns.IterationSeconds),
        ParquetColumn.Double(ProfileColumns.EnergyJoules),
        ParquetColumn.Double(ProfileColumns.MeanPowerWatts),
        ParquetColumn.Double(ProfileColumns.SmClockMHz),
        ParquetColumn.Double(ProfileColumns.TemperatureC),
        ParquetColumn.Int64(ProfileColumns.ThrottleReasons),
        ParquetColumn.Int32(ProfileColumns.Repeats),
        ParquetColumn.Double(ProfileColumns.CvTime),
        ParquetColumn.Double(ProfileColumns.CvEnergy),
    ]);

    private static void WriteParquet(MeasuredProfile profile, string path)
    {
        var pts = profile.Points;
        T[] Col<T>(Func<ProfilePoint, T> f) => pts.Select(f).ToArray();
        AtomicFile.Write(path, stream =>
        {
            using var writer = new ParquetFileWriter(stream, ParquetSchema, new ParquetWriteOptions { Metadata = profile.Metadata.ToKeyValues(), CreatedBy = "joules calibrate" }, leaveOpen: true);
            writer.WriteRowGroup(
                ColumnData.From(Col(p => ProfileColumns.PhaseName(p.Phase))),
                ColumnData.From(Col(p => p.BatchSize)),
                ColumnData.From(Col(p => p.NewTokens)),
                ColumnData.From(Col(p => p.ContextTokens)),
                ColumnData.From(Col(p => p.DecodeSequences)),
                ColumnData.From(Col(p => p.DecodeContext)),
                ColumnData.From(Col(p => p.TpDegree)),
                ColumnData.From(Col(p => p.SmClockTarget ?? 0), Col(p => p.SmClockTarget.HasValue)),
                ColumnData.From(Col(p => p.IterationSeconds)),
                ColumnData.From(Col(p => p.EnergyJoules)),
                ColumnData.From(Col(p => p.MeanPowerWatts)),
                ColumnData.From(Col(p => p.SmClockMHz)),
                ColumnData.From(Col(p => p.TemperatureC)),
                ColumnData.From(Col(p => p.ThrottleReasons)),
                ColumnData.From(Col(p => p.Repeats)),
                ColumnData.From(Col(p => p.CvTime)),
                ColumnData.From(Col(p => p.CvEnergy)));
        });
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
        AtomicFile.WriteAllText(path, root.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
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
            ".parquet" => ReadParquet(path),
            _ => throw new ArgumentException($"{path}: unknown profile file extension; expected .json or .parquet"),
        };
    }

    private static MeasuredProfile ReadParquet(string path)
    {
        using var reader = ParquetFileReader.Open(path);
        var kv = reader.Metadata.ToDictionary(p => p.Key, p => p.Value ?? "");
        if (!kv.ContainsKey("gpu.name") || !kv.ContainsKey("model.card"))
            throw new InvalidDataException($"{path}: not a joules profile (its Parquet metadata has no gpu.name/model.card)");
        var metadata = ProfileMetadata.FromKeyValues(kv, path);
        foreach (var column in ProfileWriter.ParquetSchema)
        {
            var found = reader.Schema.FirstOrDefault(c => c.Name == column.Name);
            if (found is null) throw new InvalidDataException($"{path}: profile column '{column.Name}' is missing");
            if (found.PhysicalType != column.PhysicalType)
                throw new InvalidDataException($"{path}: profile column '{column.Name}' is {found.PhysicalType}, expected {column.PhysicalType}");
        }
        var points = new List<ProfilePoint>((int)reader.RowCount);
        foreach (var g in reader.ReadRowGroups(ProfileWriter.ParquetSchema.Select(c => c.Name).ToArray()))
        {
            var phase = g.Get<string>(ProfileColumns.Phase);
            var clock = g.Get<int>(ProfileColumns.SmClockTarget);
            int I(string c, int r) => g.Get<int>(c)[r];
            double D(string c, int r) => g.Get<double>(c)[r];
            for (var r = 0; r < g.RowCount; r++)
            {
                var where = $"{path}: row {g.FirstRow + r}, column {ProfileColumns.Phase}";
                points.Add(new ProfilePoint
                {
                    Phase = ProfileColumns.ParsePhase(phase.IsNull(r) ? "" : phase[r], where),
                    BatchSize = I(ProfileColumns.BatchSize, r),
                    NewTokens = I(ProfileColumns.NewTokens, r),
                    ContextTokens = I(ProfileColumns.ContextTokens, r),
                    DecodeSequences = I(ProfileColumns.DecodeSequences, r),
                    DecodeContext = I(ProfileColumns.DecodeContext, r),
                    TpDegree = I(ProfileColumns.TpDegree, r),
                    SmClockTarget = clock.IsNull(r) ? null : clock[r],
                    IterationSeconds = D(ProfileColumns.IterationSeconds, r),
                    EnergyJoules = D(ProfileColumns.EnergyJoules, r),
                    MeanPowerWatts = D(ProfileColumns.MeanPowerWatts, r),
                    SmClockMHz = D(ProfileColumns.SmClockMHz, r),
                    TemperatureC = D(ProfileColumns.TemperatureC, r),
                    ThrottleReasons = g.Get<long>(ProfileColumns.ThrottleReasons)[r],
                    Repeats = I(ProfileColumns.Repeats, r),
                    CvTime = D(ProfileColumns.CvTime, r),
                    CvEnergy = D(ProfileColumns.CvEnergy, r),
                });
            }
        }
        return new MeasuredProfile(metadata, points);
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
