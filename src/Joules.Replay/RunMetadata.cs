using System.Text.Json;
using System.Text.Json.Serialization;

namespace Joules.Replay;

/// <summary>The trace and window a replay sent, enough for `joules validate` to send exactly the same requests through the simulator.</summary>
public sealed record RunTrace
{
    public string Path { get; init; } = "";
    public string Sha256 { get; init; } = "";
    public double StartS { get; init; }
    public double? DurationS { get; init; }
    public long? Limit { get; init; }
    public double RateScale { get; init; } = 1;
    public bool Offline { get; init; }
    public int? MaxConcurrency { get; init; }
    public bool IgnoreEos { get; init; } = true;
    public int Seed { get; init; }
    /// <summary>Requests the window held (and the replay sent).</summary>
    public long Requests { get; init; }

    public ReplayWindow Window => new() { StartS = StartS, DurationS = DurationS, Limit = Limit, RateScale = RateScale, Offline = Offline };
}

/// <summary>How the replay measured energy and what every GPU's telemetry showed.</summary>
public sealed record RunEnergy
{
    /// <summary>"nvml", "endpoint" or "none".</summary>
    public string Source { get; init; } = "none";
    public double Joules { get; init; } = double.NaN;
    public double SampleIntervalS { get; init; }
    public IReadOnlyList<GpuRecord> Gpus { get; init; } = [];
}

/// <summary>What the endpoint said about itself in /metrics: its engine and cache configuration (info metrics' labels) and its counters over the run.</summary>
public sealed record RunServer
{
    /// <summary>Labels of joules:engine_config_info (a `joules serve` endpoint only).</summary>
    public Dictionary<string, string>? EngineConfig { get; init; }
    /// <summary>Labels of vllm:cache_config_info (vLLM and `joules serve`).</summary>
    public Dictionary<string, string>? CacheConfig { get; init; }
    /// <summary>Change of every counter (names ending in _total) between the run's start and end.</summary>
    public Dictionary<string, double> Counters { get; init; } = new();

    /// <summary>
    /// joules:iterations_total when the run began (a `joules serve` endpoint only): the run's iterations are the rows from
    /// this one on of the server's --iteration-log, which `joules validate --iteration-log` reads.
    /// </summary>
    public long? IterationsAtStart { get; init; }

    public double? Counter(string name) => Counters.TryGetValue(name, out var v) ? v : null;

    /// <summary>Mean host time per iteration the server measured (joules:iteration_host_seconds_total over its samples), or null.</summary>
    public double? HostSecondsPerIteration =>
        Counter("joules:iteration_host_seconds_total") is { } s && Counter("joules:iteration_host_samples_total") is > 0 and var n ? s / n : null;
}

/// <summary>Lag between each request's scheduled and actual send, in seconds.</summary>
public sealed record LagStats(double Mean, double P50, double P99, double Max);

/// <summary>run.json: the metadata of a measured run beside its requests, power and summary tables (format "joules-run", version 1).</summary>
public sealed record RunMetadata
{
    public const string FileName = "run.json";
    public string Format { get; init; } = "joules-run";
    public int FormatVersion { get; init; } = 1;
    public string ToolVersion { get; init; } = "";
    public string Command { get; init; } = "";
    public string CreatedUtc { get; init; } = "";
    public string Endpoint { get; init; } = "";
    public string Model { get; init; } = "";
    public RunTrace Trace { get; init; } = new();
    public long RequestsSent { get; init; }
    public long RequestsCompleted { get; init; }
    public long RequestsFailed { get; init; }
    /// <summary>Seconds from the first scheduled send to the end of the last response.</summary>
    public double DurationS { get; init; }
    public LagStats ScheduleLag { get; init; } = new(0, 0, 0, 0);
    public RunEnergy Energy { get; init; } = new();
    public RunServer? Server { get; init; }
    /// <summary>The first few distinct failure messages.</summary>
    public IReadOnlyList<string> Errors { get; init; } = [];

    public static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        // Energy not measured is null, as in summary.json (run.json files before 2026-12-04 hold "NaN": still read).
        Converters = { Joules.Output.NonFiniteAsNull.Instance },
    };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>Reads run.json of a run folder; errors name the file and what is wrong.</summary>
    public static RunMetadata Load(string runFolder)
    {
        var path = Directory.Exists(runFolder) ? System.IO.Path.Combine(runFolder, FileName) : runFolder;
        if (!File.Exists(path)) throw new FileNotFoundException($"{path} does not exist: give a folder written by `joules replay --out`", path);
        RunMetadata? m;
        try { m = JsonSerializer.Deserialize<RunMetadata>(File.ReadAllText(path), Json); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: not a run metadata file ({e.Message})"); }
        if (m is null || m.Format != "joules-run") throw new InvalidDataException($"{path}: not a run metadata file (format is not \"joules-run\")");
        if (m.FormatVersion != 1) throw new InvalidDataException($"{path}: run format version {m.FormatVersion} is not supported (expected 1)");
        return m;
    }
}
