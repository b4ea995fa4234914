using Joules.Simulation;

namespace Joules.Reports;

/// <summary>
/// A scenario's energy split into the parts the report stacks: busy (iterations, less their all-reduce), idle,
/// communication (tensor-parallel all-reduce), host (the server's non-GPU share) and waking (cold starts), with its GPU-hours.
/// </summary>
public sealed record EnergyParts(IReadOnlyList<(string Part, string Key, double Joules)> Parts, double GpuHours)
{
    /// <summary>The parts, with the summary JSON key each one is reported under.</summary>
    public static readonly (string Part, string Key)[] Known =
    [
        ("busy", "busy_j"), ("idle", "idle_j"), ("communication", "comm_j"), ("host", "host_j"), ("waking", "waking_j"),
    ];

    public double Total => Parts.Sum(p => p.Joules);

    public static EnergyParts From(SimulationSummary s) => new(
    [
        ("busy", "busy_j", s.BusyJoules - s.CommJoules),
        ("idle", "idle_j", s.IdleJoules),
        ("communication", "comm_j", s.CommJoules),
        ("host", "host_j", s.HostJoules),
        ("waking", "waking_j", s.WakingJoules),
    ], s.GpuHours > 0 ? s.GpuHours : s.Instances * s.TensorParallel * s.SimulatedSeconds / 3600);
}
