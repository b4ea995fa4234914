using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Joules.Output;

namespace Joules.Profiles.Measured;

/// <summary>One measured all-reduce size: time, bandwidth and energy per call of a bf16 sum over <see cref="Ranks"/> GPUs.</summary>
/// <param name="Ranks">GPUs taking part.</param>
/// <param name="Tokens">Tokens whose hidden states the message carries (tokens x hidden x 2 bytes).</param>
/// <param name="Bytes">Message size in bytes (each rank's buffer).</param>
/// <param name="Seconds">Median time per call.</param>
/// <param name="CvTime">Spread of the time across trials.</param>
/// <param name="AlgorithmBandwidthGBs">Bytes / time, GB/s (nccl-tests' algbw).</param>
/// <param name="BusBandwidthGBs">algbw x 2(n-1)/n, GB/s (nccl-tests' busbw; 0 for one rank).</param>
/// <param name="Joules">Median energy per call of all the GPUs together, static power included.</param>
/// <param name="CvEnergy">Spread of the energy across trials.</param>
/// <param name="MeanPowerWatts">All GPUs together while the calls ran.</param>
/// <param name="IdlePowerWatts">All GPUs together with nothing running (measured before the sizes).</param>
/// <param name="Repeats">Trials the medians are taken over.</param>
/// <param name="PerGpuJoules">Each GPU's median energy per call, rank order.</param>
public sealed record AllReduceMeasurement(int Ranks, long Tokens, long Bytes, double Seconds, double CvTime, double AlgorithmBandwidthGBs, double BusBandwidthGBs,
    double Joules, double CvEnergy, double MeanPowerWatts, double IdlePowerWatts, int Repeats, IReadOnlyList<double> PerGpuJoules)
{
    /// <summary>Energy per call above what the GPUs draw idle over the same time.</summary>
    public double DynamicJoules => Math.Max(0, Joules - IdlePowerWatts * Seconds);
}

/// <summary>
/// Measured NCCL all-reduce cost on one host (`joules gpu allreduce-bench`): per GPU count and message size, time and
/// energy per call. The file is JSON, format "joules-allreduce" version 1 (see calibration/engine/README.md):
/// the object's keys are the metadata below plus "results", an array of <see cref="AllReduceMeasurement"/> rows in
/// snake_case. Lookups interpolate log-log between measured sizes of one GPU count.
/// </summary>
public sealed record AllReduceProfile
{
    public const string Format = "joules-allreduce";
    public const int CurrentFormatVersion = 1;

    public required string GpuName { get; init; }
    /// <summary>NVML UUIDs of the GPUs used; the n-rank rows use the first n.</summary>
    public IReadOnlyList<string> GpuUuids { get; init; } = [];
    public string DriverVersion { get; init; } = "";
    public string CudaVersion { get; init; } = "";
    public string NcclVersion { get; init; } = "";
    /// <summary>NCCL environment the run had (NCCL_NVLS_ENABLE=0 always).</summary>
    public IReadOnlyDictionary<string, string> NcclEnvironment { get; init; } = new Dictionary<string, string>();
    /// <summary>Model whose hidden size set the message sizes.</summary>
    public string Model { get; init; } = "";
    public int Hidden { get; init; }
    /// <summary>All-reduces per measured iteration (back to back in one CUDA graph per GPU; per-call figures divide by it).</summary>
    public int CallsPerIteration { get; init; } = 1;
    /// <summary>"graph" (calls replayed from CUDA graphs, as the engine runs them) or "eager".</summary>
    public string Launch { get; init; } = "graph";
    public string ToolVersion { get; init; } = "";
    public string Command { get; init; } = "";
    public DateTimeOffset CreatedUtc { get; init; } = DateTimeOffset.UnixEpoch;
    public IReadOnlyList<AllReduceMeasurement> Results { get; init; } = [];

    /// <summary>GPU counts measured, ascending.</summary>
    public IReadOnlyList<int> RankCounts => Results.Select(r => r.Ranks).Distinct().Order().ToArray();

    /// <summary>Seconds per all-reduce of <paramref name="bytes"/> over <paramref name="ranks"/> GPUs.</summary>
    public double Seconds(int ranks, long bytes) => Interpolate(ranks, bytes, r => r.Seconds);

    /// <summary>Joules per all-reduce of <paramref name="bytes"/> over <paramref name="ranks"/> GPUs (all GPUs together, static power included).</summary>
    public double Joules(int ranks, long bytes) => Interpolate(ranks, bytes, r => r.Joules);

    /// <summary>
    /// Log-log interpolation between the two measured sizes around <paramref name="bytes"/>; below the smallest the
    /// smallest's figure (latency floor); above the largest, proportional to size (bandwidth bound).
    /// </summary>
    private double Interpolate(int ranks, long bytes, Func<AllReduceMeasurement, double> value)
    {
        var rows = Results.Where(r => r.Ranks == ranks).OrderBy(r => r.Bytes).ToArray();
        if (rows.Length == 0)
            throw new KeyNotFoundException($"no all-reduce measured over {ranks} GPU(s); this table has {string.Join(", ", RankCounts)}");
        if (bytes <= rows[0].Bytes) return value(rows[0]);
        var last = rows[^1];
        if (bytes >= last.Bytes) return value(last) * bytes / last.Bytes;
        var i = Array.FindIndex(rows, r => r.Bytes >= bytes);
        var (a, b) = (rows[i - 1], rows[i]);
        double va = Math.Max(value(a), 1e-30), vb = Math.Max(value(b), 1e-30);
        var w = (Math.Log(bytes) - Math.Log(a.Bytes)) / (Math.Log(b.Bytes) - Math.Log(a.Bytes));
        return Math.Exp(Math.Log(va) + w * (Math.Log(vb) - Math.Log(va)));
    }

    /// <summary>Reads a table written by <see cref="Save"/>; errors name the file and the field.</summary>
    public static AllReduceProfile Load(string path)
    {
        JsonObject o;
        try
        {
            o = JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? throw new InvalidDataException($"{path}: not a JSON object");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: not valid JSON ({e.Message})", e);
        }
        if ((string?)o["format"] != Format) throw new InvalidDataException($"{path}: 'format' is not \"{Format}\"");
        var version = Int(o, "format_version", path);
        if (version > CurrentFormatVersion)
            throw new InvalidDataException($"{path}: all-reduce table version {version} is newer than this joules understands ({CurrentFormatVersion}); upgrade joules");
        var results = new List<AllReduceMeasurement>();
        if (o["results"] is not JsonArray rows) throw new InvalidDataException($"{path}: 'results' must be an array");
        for (var i = 0; i < rows.Count; i++)
        {
            var where = $"{path}: results[{i}]";
            if (rows[i] is not JsonObject r) throw new InvalidDataException($"{where} is not an object");
            var m = new AllReduceMeasurement(Int(r, "ranks", where), Long(r, "tokens", where), Long(r, "bytes", where), Num(r, "time_s", where), Num(r, "cv_time", where),
                Num(r, "algbw_gbs", where), Num(r, "busbw_gbs", where), Num(r, "energy_j", where), Num(r, "cv_energy", where), Num(r, "mean_power_w", where),
                Num(r, "idle_power_w", where), Int(r, "repeats", where),
                r["per_gpu_energy_j"] is JsonArray per ? per.Select((v, k) => v is JsonValue jv && jv.TryGetValue<double>(out var d) ? d
                    : throw new InvalidDataException($"{where}: per_gpu_energy_j[{k}] is not a number")).ToArray() : []);
            if (m.Ranks < 1 || m.Bytes < 1 || !(m.Seconds > 0))
                throw new InvalidDataException($"{where}: needs ranks >= 1, bytes >= 1 and time_s > 0 (got {m.Ranks}, {m.Bytes}, {m.Seconds})");
            results.Add(m);
        }
        var created = DateTimeOffset.UnixEpoch;
        if ((string?)o["created_utc"] is { Length: > 0 } c && !DateTimeOffset.TryParse(c, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out created))
            throw new InvalidDataException($"{path}: 'created_utc' is not a date: '{c}'");
        return new AllReduceProfile
        {
            GpuName = (string?)o["gpu_name"] ?? throw new InvalidDataException($"{path}: 'gpu_name' is missing"),
            GpuUuids = o["gpu_uuids"] is JsonArray u ? u.Select(x => (string?)x ?? "").ToArray() : [],
            DriverVersion = (string?)o["driver_version"] ?? "",
            CudaVersion = (string?)o["cuda_version"] ?? "",
            NcclVersion = (string?)o["nccl_version"] ?? "",
            NcclEnvironment = o["nccl_env"] is JsonObject env ? env.ToDictionary(p => p.Key, p => (string?)p.Value ?? "") : new Dictionary<string, string>(),
            Model = (string?)o["model"] ?? "",
            Hidden = o["hidden"] is null ? 0 : Int(o, "hidden", path),
            CallsPerIteration = o["calls_per_iteration"] is null ? 1 : Int(o, "calls_per_iteration", path),
            Launch = (string?)o["launch"] ?? "graph",
            ToolVersion = (string?)o["tool_version"] ?? "",
            Command = (string?)o["command"] ?? "",
            CreatedUtc = created.ToUniversalTime(),
            Results = results,
        };
    }

    /// <summary>Writes the table as JSON: to a temporary file in the same folder, renamed into place when complete.</summary>
    public void Save(string path)
    {
        var o = new JsonObject
        {
            ["format"] = Format,
            ["format_version"] = CurrentFormatVersion,
            ["gpu_name"] = GpuName,
            ["gpu_uuids"] = new JsonArray(GpuUuids.Select(u => (JsonNode)JsonValue.Create(u)!).ToArray()),
            ["driver_version"] = DriverVersion,
            ["cuda_version"] = CudaVersion,
            ["nccl_version"] = NcclVersion,
            ["nccl_env"] = new JsonObject(NcclEnvironment.Select(p => KeyValuePair.Create(p.Key, (JsonNode?)JsonValue.Create(p.Value)))),
            ["model"] = Model,
            ["hidden"] = Hidden,
            ["calls_per_iteration"] = CallsPerIteration,
            ["launch"] = Launch,
            ["tool_version"] = ToolVersion,
            ["command"] = Command,
            ["created_utc"] = CreatedUtc.UtcDateTime.ToString("O", CultureInfo.InvariantCulture),
            ["results"] = new JsonArray(Results.Select(r => (JsonNode)new JsonObject
            {
                ["ranks"] = r.Ranks, ["tokens"] = r.Tokens, ["bytes"] = r.Bytes, ["time_s"] = r.Seconds, ["cv_time"] = r.CvTime,
                ["algbw_gbs"] = r.AlgorithmBandwidthGBs, ["busbw_gbs"] = r.BusBandwidthGBs, ["energy_j"] = r.Joules, ["cv_energy"] = r.CvEnergy,
                ["mean_power_w"] = r.MeanPowerWatts, ["idle_power_w"] = r.IdlePowerWatts, ["repeats"] = r.Repeats,
                ["per_gpu_energy_j"] = new JsonArray(r.PerGpuJoules.Select(j => (JsonNode)JsonValue.Create(j)).ToArray()),
            }).ToArray()),
        };
        AtomicFile.WriteAllText(path, o.ToJsonString(new JsonSerializerOptions { WriteIndented = true, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals }) + "\n");
    }

    /// <summary>nccl-tests' bus bandwidth of an all-reduce: algorithm bandwidth x 2(n-1)/n.</summary>
    public static double BusBandwidth(double algorithmBandwidth, int ranks) => ranks <= 1 ? 0 : algorithmBandwidth * 2.0 * (ranks - 1) / ranks;

    private static double Num(JsonObject o, string key, string where) =>
        o[key] is JsonValue v && v.TryGetValue<double>(out var d) ? d : throw new InvalidDataException($"{where}: '{key}' must be a number");

    private static long Long(JsonObject o, string key, string where) =>
        o[key] is JsonValue v && v.TryGetValue<long>(out var d) ? d : throw new InvalidDataException($"{where}: '{key}' must be an integer");

    private static int Int(JsonObject o, string key, string where) =>
        o[key] is JsonValue v && v.TryGetValue<int>(out var d) ? d : throw new InvalidDataException($"{where}: '{key}' must be an integer");
}
