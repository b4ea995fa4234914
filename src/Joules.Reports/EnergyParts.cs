using System.Text.Json;
using Joules.Simulation;

namespace Joules.Reports;

/// <summary>
/// A scenario's energy split into the parts the report stacks (busy, idle, communication, host, waking), read from its
/// summary JSON by key (<c>busy_j</c>, <c>idle_j</c>, <c>communication_j</c>, <c>host_j</c>, <c>waking_j</c>), so parts the
/// simulator starts to report appear without a change here; a part the summary does not carry is zero.
/// </summary>
public sealed record EnergyParts(IReadOnlyList<(string Part, string Key, double Joules)> Parts, double GpuHours)
{
    public static readonly (string Part, string Key)[] Known =
    [
        ("busy", "busy_j"), ("idle", "idle_j"), ("communication", "communication_j"), ("host", "host_j"), ("waking", "waking_j"),
    ];

    public double Total => Parts.Sum(p => p.Joules);

    public static EnergyParts From(SimulationSummary s)
    {
        using var doc = JsonDocument.Parse(SummaryJson.Serialize([s], perInstance: false));
        var root = doc.RootElement;
        double Get(string key) => root.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : 0;
        var parts = Known.Select(k => (k.Part, k.Key, Get(k.Key))).ToArray();
        var gpuHours = root.TryGetProperty("gpu_hours", out var g) && g.ValueKind == JsonValueKind.Number
            ? g.GetDouble()
            : s.Instances * s.TensorParallel * s.SimulatedSeconds / 3600;
        return new EnergyParts(parts, gpuHours);
    }
}
