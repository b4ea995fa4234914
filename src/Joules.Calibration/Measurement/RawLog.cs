using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Joules.Profiles.Measured;

namespace Joules.Calibration.Measurement;

/// <summary>An error in running a calibration that the user can act on (mismatched resume log, missing driver, refused clock change).</summary>
public class CalibrationException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>What a raw log was recorded for; a resumed run must match it.</summary>
public sealed record RawLogHeader
{
    public const int CurrentVersion = 1;
    public int Version { get; init; } = CurrentVersion;
    public required string GpuName { get; init; }
    public string GpuUuid { get; init; } = "";
    public required string Model { get; init; }
    /// <summary>The model card's JSON: a card edited between runs is a different model.</summary>
    public string ModelCard { get; init; } = "";
    public int Tp { get; init; } = 1;
    public string Grid { get; init; } = "";
    public required string GridFingerprint { get; init; }
    public string ToolVersion { get; init; } = "";
    public string CreatedUtc { get; init; } = "";
    public double WindowSeconds { get; init; }
    public int Trials { get; init; }
    /// <summary>True when every GPU of a tensor-parallel instance was measured together; false for one GPU (a shard, or tp=1 the old way).</summary>
    public bool WholeInstance { get; init; }
    /// <summary>UUIDs of the instance's GPUs in rank order (whole instances only).</summary>
    public IReadOnlyList<string> GpuUuids { get; init; } = [];
    /// <summary>Fingerprint of the engine that measures (<see cref="EngineFingerprint"/>); empty when unknown (logs written before 2026-12-03, test workloads).</summary>
    public string Engine { get; init; } = "";

    /// <summary>A short hash of the engine's provenance entries (the <c>engine.*</c> keys: kernels' source hash, attention and projection paths, graphs), or empty when there are none.</summary>
    /// <remarks>A log continued by another engine would mix two engines' points in one profile; the tool version is too
    /// strict a key (any commit changes it), the engine's own description is the right one.</remarks>
    public static string EngineFingerprint(IReadOnlyDictionary<string, string> provenance)
    {
        var entries = ProfileMetadata.EngineEntries(provenance).Select(kv => $"{kv.Key}={kv.Value}").ToArray();
        if (entries.Length == 0) return "";
        return Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(string.Join("\n", entries))))[..16];
    }

    /// <summary>Why a log with header <paramref name="other"/> cannot be resumed by this run, or null when it can.</summary>
    /// <param name="other">The existing log's header.</param>
    /// <param name="allowOtherCard">Accept a log recorded on another card of the same GPU model (one-GPU runs only): rented machines land on a different card per lease.</param>
    public string? MismatchWith(RawLogHeader other, bool allowOtherCard = false)
    {
        var why = new List<string>();
        if (WholeInstance != other.WholeInstance)
            why.Add($"{Kind(other)} vs {Kind(this)}");
        else if (WholeInstance)
        {
            if (!GpuUuids.SequenceEqual(other.GpuUuids)) why.Add($"GPUs {string.Join(",", other.GpuUuids)} vs {string.Join(",", GpuUuids)}");
        }
        else
        {
            var sameGpu = GpuUuid.Length > 0 && other.GpuUuid.Length > 0 && !allowOtherCard ? GpuUuid == other.GpuUuid : GpuName == other.GpuName;
            if (!sameGpu) why.Add($"GPU {other.GpuName} {other.GpuUuid} vs {GpuName} {GpuUuid}".Replace("  ", " ") +
                                  (GpuName == other.GpuName ? " (another card of the same model: --resume-on-another-card continues the log there)" : ""));
        }
        if (Model != other.Model || (ModelCard.Length > 0 && other.ModelCard.Length > 0 && ModelCard != other.ModelCard))
            why.Add($"model {other.Model} vs {Model}");
        if (Tp != other.Tp) why.Add($"tp {other.Tp} vs {Tp}");
        if (GridFingerprint != other.GridFingerprint) why.Add($"grid {other.GridFingerprint} vs {GridFingerprint}");
        if (Engine.Length > 0 && other.Engine.Length > 0 && Engine != other.Engine)
            why.Add($"engine {other.Engine} vs {Engine} (its kernels or options changed since the log was started, and one profile must come from one engine)");
        return why.Count == 0 ? null : string.Join("; ", why);
    }

    private static string Kind(RawLogHeader h) => h.WholeInstance ? $"a whole tp={h.Tp} instance on {h.GpuUuids.Count} GPUs" : "one GPU";
}

/// <summary>Append-only JSON-lines log of a calibration run: header, every trial, every completed or skipped point. Flushed per record so a crash loses at most the point in progress.</summary>
public sealed class RawLog : IDisposable
{
    private static readonly JsonSerializerOptions s_json = new() { NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals };
    private static readonly string[] s_optionalKeys = ["per_gpu", "whole_instance", "gpu_uuids", "gpu_uuid", "engine"];
    private readonly StreamWriter _writer;
    private readonly Dictionary<string, PointResult> _completed = new();
    private readonly Dictionary<string, string> _skipped = new();

    private RawLog(string path, RawLogHeader header, StreamWriter writer)
    {
        Path = path;
        Header = header;
        _writer = writer;
    }

    public string Path { get; }
    public RawLogHeader Header { get; }

    /// <summary>Points completed in this or earlier runs, by <see cref="CalibrationGrid.Key"/>.</summary>
    public IReadOnlyDictionary<string, PointResult> Completed => _completed;

    /// <summary>Points found not to fit, by key, with the reason.</summary>
    public IReadOnlyDictionary<string, string> Skipped => _skipped;

    /// <summary>Points that were complete before this run started.</summary>
    public int Resumed { get; private set; }

    /// <summary>The card the log was started on (its header's UUID); points measured elsewhere carry their own card's UUID.</summary>
    public string FirstCard { get; private set; } = "";

    /// <summary>True when this run resumed a log that was last measured on another card (the idle power it holds is that card's).</summary>
    public bool ChangedCard { get; private set; }

    /// <summary>Opens a new log, or resumes an existing one recorded for the same GPU, model, tp and grid.</summary>
    /// <param name="path">The log file (created with its directory when missing).</param>
    /// <param name="header">What this run measures; an existing log must have been recorded for the same.</param>
    /// <param name="force">Start over when the existing log does not match (it is kept, renamed with a .bak suffix).</param>
    /// <param name="allowOtherCard">Resume a log recorded on another card of the same GPU model; the points measured from here on are attributed to this run's card.</param>
    public static RawLog OpenOrResume(string path, RawLogHeader header, bool force, bool allowOtherCard = false)
    {
        var dir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
        var completed = new Dictionary<string, PointResult>();
        var skipped = new Dictionary<string, string>();
        var resume = false;
        var firstCard = header.GpuUuid;
        var lastCard = header.GpuUuid;
        if (File.Exists(path) && new FileInfo(path).Length > 0)
        {
            var (existing, points, skips) = ReadAll(path);
            var mismatch = existing is null ? "the file has no header" : header.MismatchWith(existing, allowOtherCard);
            if (mismatch is null)
            {
                resume = true;
                firstCard = existing!.GpuUuid;
                lastCard = LastCard(path, existing.GpuUuid);
                foreach (var p in points) completed[CalibrationGrid.Key(p.Point, p.SmClockTarget)] = p;
                foreach (var (k, v) in skips) skipped[k] = v;
            }
            else if (force)
            {
                var backup = $"{path}.{DateTime.UtcNow:yyyyMMddTHHmmss}.bak";
                File.Move(path, backup);
            }
            else
            {
                throw new CalibrationException(
                    $"{path} holds a calibration of something else ({mismatch}); choose another --out, or pass --force to start over (the old log is kept as a .bak file)");
            }
        }
        var stream = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read);
        var writer = new StreamWriter(stream, new UTF8Encoding(false)) { AutoFlush = true, NewLine = "\n" };
        var log = new RawLog(path, header, writer) { FirstCard = firstCard, ChangedCard = resume && lastCard != header.GpuUuid };
        if (resume)
        {
            // A crash can leave half a line; start the next record on a line of its own.
            if (stream.Length > 0 && LastByte(path) != (byte)'\n') writer.Write('\n');
            foreach (var (k, v) in completed) log._completed[k] = v;
            foreach (var (k, v) in skipped) log._skipped[k] = v;
            log.Resumed = completed.Count;
            // The resume record names the card this run measures on: points after it belong to that card.
            log.Append(new JsonObject
            {
                ["type"] = "resume", ["at_utc"] = DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture), ["completed"] = completed.Count,
                ["gpu_uuid"] = header.GpuUuid.Length > 0 ? header.GpuUuid : null,
            });
        }
        else
        {
            log.Append(HeaderJson(header));
        }
        return log;
    }

    /// <summary>The card the log's last run measured on: the header's, or the last resume record's that names one.</summary>
    private static string LastCard(string path, string headerCard)
    {
        var card = headerCard;
        foreach (var line in File.ReadLines(path))
        {
            if (!line.Contains("\"resume\"", StringComparison.Ordinal)) continue;
            try
            {
                if (JsonNode.Parse(line) is JsonObject o && (string?)o["type"] == "resume" && (string?)o["gpu_uuid"] is { Length: > 0 } u) card = u;
            }
            catch (JsonException)
            {
                // a torn last line: ReadAll has already tolerated it
            }
        }
        return card;
    }

    /// <summary>Records the idle power measured on this run's card after a change of card (the log's idle point stays the first card's).</summary>
    public void AppendCardIdle(PointResult idle) => Append(new JsonObject
    {
        ["type"] = "card_idle",
        ["gpu_uuid"] = Header.GpuUuid,
        ["mean_power_w"] = idle.MeanPowerWatts,
        ["cv_energy"] = idle.CvEnergy,
        ["repeats"] = idle.Repeats,
    });

    private static byte LastByte(string path)
    {
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        fs.Seek(-1, SeekOrigin.End);
        return (byte)fs.ReadByte();
    }

    public void AppendTrial(CalibrationPoint point, uint? clock, int index, TrialResult t) => Append(new JsonObject
    {
        ["type"] = "trial",
        ["key"] = CalibrationGrid.Key(point, clock),
        ["trial"] = index,
        ["iterations"] = t.Iterations,
        ["seconds"] = t.Seconds,
        ["energy_j"] = t.EnergyJoules,
        ["counter_j"] = t.CounterJoules,
        ["gap_s"] = t.GapSeconds,
        ["samples"] = t.Telemetry.Samples,
        ["mean_power_w"] = t.Telemetry.MeanPowerWatts,
        ["sm_clock_mhz"] = t.Telemetry.MeanSmClockMHz,
        ["max_temperature_c"] = t.Telemetry.MaxTemperatureC,
        ["clock_event_reasons"] = t.Telemetry.ClockEventReasons,
        ["per_gpu"] = t.Gpus.Count == 0 ? null : new JsonArray(t.Gpus.Select(g => (JsonNode)new JsonObject
        {
            ["uuid"] = g.Uuid,
            ["energy_j"] = g.EnergyJoules,
            ["counter_j"] = g.CounterJoules,
            ["gap_s"] = g.GapSeconds,
            ["mean_power_w"] = g.Telemetry.MeanPowerWatts,
            ["sm_clock_mhz"] = g.Telemetry.MeanSmClockMHz,
            ["max_temperature_c"] = g.Telemetry.MaxTemperatureC,
            ["clock_event_reasons"] = g.Telemetry.ClockEventReasons,
        }).ToArray()),
    });

    public void AppendPoint(PointResult r)
    {
        var o = PointJson(r.Point, r.SmClockTarget);
        o["type"] = "point";
        o["repeats"] = r.Repeats;
        o["iteration_s"] = r.SecondsPerIteration;
        o["energy_j"] = r.JoulesPerIteration;
        o["mean_power_w"] = r.MeanPowerWatts;
        o["cv_time"] = r.CvTime;
        o["cv_energy"] = r.CvEnergy;
        o["sm_clock_mhz"] = r.SmClockMHz;
        o["temperature_c"] = r.TemperatureC;
        o["clock_event_reasons"] = r.ClockEventReasons;
        if (r.PerGpu.Count > 0)
            o["per_gpu"] = new JsonArray(r.PerGpu.Select(g => (JsonNode)new JsonObject
            {
                ["uuid"] = g.Uuid,
                ["energy_j"] = g.JoulesPerIteration,
                ["mean_power_w"] = g.MeanPowerWatts,
                ["sm_clock_mhz"] = g.SmClockMHz,
                ["temperature_c"] = g.TemperatureC,
                ["clock_event_reasons"] = g.ClockEventReasons,
            }).ToArray());
        Append(o);
        _completed[CalibrationGrid.Key(r.Point, r.SmClockTarget)] = r with { Trials = [], GpuUuid = r.GpuUuid.Length > 0 ? r.GpuUuid : Header.GpuUuid };
    }

    public void AppendSkip(CalibrationPoint point, uint? clock, string reason)
    {
        var o = PointJson(point, clock);
        o["type"] = "skip";
        o["reason"] = reason;
        Append(o);
        _skipped[CalibrationGrid.Key(point, clock)] = reason;
    }

    private static JsonObject PointJson(CalibrationPoint p, uint? clock) => new()
    {
        ["key"] = CalibrationGrid.Key(p, clock),
        ["phase"] = CalibrationGrid.PhaseName(p.Phase),
        ["batch_size"] = p.BatchSize,
        ["new_tokens"] = p.NewTokens,
        ["context_tokens"] = p.ContextTokens,
        ["decode_sequences"] = p.DecodeSequences,
        ["decode_context"] = p.DecodeContext,
        ["sm_clock_target"] = clock,
    };

    private static JsonObject HeaderJson(RawLogHeader h) => new()
    {
        ["type"] = "header",
        ["version"] = h.Version,
        ["gpu_name"] = h.GpuName,
        ["gpu_uuid"] = h.GpuUuid,
        ["model"] = h.Model,
        ["model_card"] = h.ModelCard,
        ["tp"] = h.Tp,
        ["grid"] = h.Grid,
        ["grid_fingerprint"] = h.GridFingerprint,
        ["tool_version"] = h.ToolVersion,
        ["created_utc"] = h.CreatedUtc,
        ["window_s"] = h.WindowSeconds,
        ["trials"] = h.Trials,
        ["whole_instance"] = h.WholeInstance ? true : null,
        ["gpu_uuids"] = h.WholeInstance ? new JsonArray(h.GpuUuids.Select(u => (JsonNode)JsonValue.Create(u)!).ToArray()) : null,
        ["engine"] = h.Engine.Length > 0 ? h.Engine : null,
    };

    private void Append(JsonObject record)
    {
        // The multi-GPU keys, a resume record's card and the engine fingerprint are left out when unknown (null), so logs without them stay as they were.
        foreach (var k in s_optionalKeys)
            if (record.TryGetPropertyValue(k, out var v) && v is null) record.Remove(k);
        _writer.WriteLine(record.ToJsonString(s_json));
    }

    /// <summary>Reads a raw log: its header, completed points and skipped points. An unreadable final line (a crash mid-write) is ignored; an unreadable line elsewhere is an error.</summary>
    public static (RawLogHeader? Header, IReadOnlyList<PointResult> Points, IReadOnlyDictionary<string, string> Skipped) ReadAll(string path)
    {
        RawLogHeader? header = null;
        var card = "";
        var points = new List<PointResult>();
        var skipped = new Dictionary<string, string>();
        var lines = File.ReadAllLines(path);
        for (var i = 0; i < lines.Length; i++)
        {
            if (string.IsNullOrWhiteSpace(lines[i])) continue;
            JsonObject? o;
            try
            {
                o = JsonNode.Parse(lines[i]) as JsonObject;
            }
            catch (JsonException) when (i == lines.Length - 1)
            {
                break;
            }
            catch (JsonException e)
            {
                throw new InvalidDataException($"{path}: line {i + 1} is not valid JSON ({e.Message})", e);
            }
            if (o is null) throw new InvalidDataException($"{path}: line {i + 1} is not a JSON object");
            switch ((string?)o["type"])
            {
                case "header":
                    header = new RawLogHeader
                    {
                        Version = (int?)o["version"] ?? 1,
                        GpuName = (string?)o["gpu_name"] ?? "",
                        GpuUuid = (string?)o["gpu_uuid"] ?? "",
                        Model = (string?)o["model"] ?? "",
                        ModelCard = (string?)o["model_card"] ?? "",
                        Tp = (int?)o["tp"] ?? 1,
                        Grid = (string?)o["grid"] ?? "",
                        GridFingerprint = (string?)o["grid_fingerprint"] ?? "",
                        ToolVersion = (string?)o["tool_version"] ?? "",
                        CreatedUtc = (string?)o["created_utc"] ?? "",
                        WindowSeconds = (double?)o["window_s"] ?? 0,
                        Trials = (int?)o["trials"] ?? 0,
                        WholeInstance = (bool?)o["whole_instance"] ?? false,
                        GpuUuids = o["gpu_uuids"] is JsonArray uuids ? uuids.Select(u => (string?)u ?? "").ToArray() : [],
                        Engine = (string?)o["engine"] ?? "",
                    };
                    card = header.GpuUuid;
                    break;
                case "resume":
                    if ((string?)o["gpu_uuid"] is { Length: > 0 } resumedOn) card = resumedOn;
                    break;
                case "point":
                    var (point, clock) = ReadPoint(o, path, i);
                    points.Add(new PointResult
                    {
                        Point = point,
                        SmClockTarget = clock,
                        GpuUuid = card,
                        Repeats = (int?)o["repeats"] ?? 0,
                        SecondsPerIteration = Dbl(o, "iteration_s"),
                        JoulesPerIteration = Dbl(o, "energy_j"),
                        MeanPowerWatts = Dbl(o, "mean_power_w"),
                        CvTime = Dbl(o, "cv_time"),
                        CvEnergy = Dbl(o, "cv_energy"),
                        SmClockMHz = Dbl(o, "sm_clock_mhz"),
                        TemperatureC = Dbl(o, "temperature_c"),
                        ClockEventReasons = (ulong?)o["clock_event_reasons"] ?? 0,
                        PerGpu = o["per_gpu"] is JsonArray per
                            ? per.OfType<JsonObject>().Select(g => new GpuShare((string?)g["uuid"] ?? "", Dbl(g, "energy_j"), Dbl(g, "mean_power_w"),
                                Dbl(g, "sm_clock_mhz"), Dbl(g, "temperature_c"), (ulong?)g["clock_event_reasons"] ?? 0)).ToArray()
                            : [],
                    });
                    break;
                case "skip":
                    var (sp, sc) = ReadPoint(o, path, i);
                    skipped[CalibrationGrid.Key(sp, sc)] = (string?)o["reason"] ?? "";
                    break;
            }
        }
        return (header, points, skipped);
    }

    private static double Dbl(JsonObject o, string key) => o[key] is JsonValue v && v.TryGetValue<double>(out var d) ? d : double.NaN;

    private static (CalibrationPoint, uint?) ReadPoint(JsonObject o, string path, int line)
    {
        var phase = (string?)o["phase"] switch
        {
            "prefill" => Phase.Prefill,
            "decode" => Phase.Decode,
            "mixed" => Phase.Mixed,
            "idle" => Phase.Idle,
            var s => throw new InvalidDataException($"{path}: line {line + 1}: unknown phase '{s}'"),
        };
        var point = new CalibrationPoint(phase, (int?)o["batch_size"] ?? 0, (int?)o["new_tokens"] ?? 0, (int?)o["context_tokens"] ?? 0,
            (int?)o["decode_sequences"] ?? 0, (int?)o["decode_context"] ?? 0);
        return (point, (uint?)o["sm_clock_target"]);
    }

    public void Dispose() => _writer.Dispose();
}
