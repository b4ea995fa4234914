using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;

namespace Joules.Reports;

/// <summary>Where one scenario's numbers come from: its deployment and the cost model (with the profile file and its hash when measured).</summary>
public sealed record ScenarioProvenance(string Name, string Deployment, string CostModelKind, string CostModel, string? ProfilePath, string? ProfileSha256);

/// <summary>
/// Everything needed to reproduce a run: tool version and commit, the command line, the trace (path, SHA-256,
/// request count), the seed, each scenario's deployment and cost model, and when it ran. Written into
/// summary.json and into the key-value metadata of every Parquet output.
/// </summary>
public sealed record RunProvenance
{
    public required string ToolVersion { get; init; }
    public required string CommandLine { get; init; }
    public required string Trace { get; init; }
    public string? TraceSha256 { get; init; }
    public long TraceRequests { get; init; }
    public int Seed { get; init; }
    public required DateTimeOffset CreatedUtc { get; init; }
    public IReadOnlyList<ScenarioProvenance> Scenarios { get; init; } = [];

    /// <summary>The commit part of a version such as "0.1.0+abcdef012345", or null.</summary>
    public string? Commit => ToolVersion.IndexOf('+') is var i and > 0 ? ToolVersion[(i + 1)..] : null;

    public void Write(Utf8JsonWriter w)
    {
        w.WriteStartObject("provenance");
        w.WriteString("tool", "joules");
        w.WriteString("version", ToolVersion);
        if (Commit is { } c) w.WriteString("commit", c); else w.WriteNull("commit");
        w.WriteString("command", CommandLine);
        w.WriteString("trace", Trace);
        if (TraceSha256 is { } h) w.WriteString("trace_sha256", h); else w.WriteNull("trace_sha256");
        w.WriteNumber("trace_requests", TraceRequests);
        w.WriteNumber("seed", Seed);
        w.WriteString("created_utc", CreatedUtc.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture));
        w.WriteStartArray("scenarios");
        foreach (var s in Scenarios)
        {
            w.WriteStartObject();
            w.WriteString("name", s.Name);
            w.WriteString("deployment", s.Deployment);
            w.WriteString("cost_model_kind", s.CostModelKind);
            w.WriteString("cost_model", s.CostModel);
            if (s.ProfilePath is { } p) w.WriteString("profile", p); else w.WriteNull("profile");
            if (s.ProfileSha256 is { } ph) w.WriteString("profile_sha256", ph); else w.WriteNull("profile_sha256");
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }

    /// <summary>Key-value metadata for a Parquet output of <paramref name="scenario"/> (or of the whole run when null).</summary>
    public Dictionary<string, string> ParquetMetadata(ScenarioProvenance? scenario)
    {
        var m = new Dictionary<string, string>
        {
            ["joules.version"] = ToolVersion,
            ["joules.command"] = CommandLine,
            ["joules.trace"] = Trace,
            ["joules.trace.requests"] = TraceRequests.ToString(CultureInfo.InvariantCulture),
            ["joules.seed"] = Seed.ToString(CultureInfo.InvariantCulture),
            ["joules.created_utc"] = CreatedUtc.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture),
        };
        if (Commit is { } c) m["joules.commit"] = c;
        if (TraceSha256 is { } h) m["joules.trace.sha256"] = h;
        if (scenario != null)
        {
            m["joules.scenario"] = scenario.Name;
            m["joules.deployment"] = scenario.Deployment;
            m["joules.cost_model.kind"] = scenario.CostModelKind;
            m["joules.cost_model"] = scenario.CostModel;
            if (scenario.ProfilePath is { } p) m["joules.profile"] = p;
            if (scenario.ProfileSha256 is { } ph) m["joules.profile.sha256"] = ph;
        }
        return m;
    }

    /// <summary>SHA-256 of a file, lower-case hex (streamed).</summary>
    public static string Sha256(string path)
    {
        using var f = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(f));
    }
}
