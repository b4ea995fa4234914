using Joules.Reports;
using Joules.Simulation;

namespace Joules.Reports.Tests;

/// <summary>Provenance for report tests, hashing the trace file as a real run does.</summary>
internal static class TestProvenance
{
    public static RunProvenance For(string version, string command, string trace, int seed, IEnumerable<SimulationSummary> scenarios) => new()
    {
        ToolVersion = version,
        CommandLine = command,
        Trace = trace,
        TraceSha256 = File.Exists(trace) ? RunProvenance.Sha256(trace) : null,
        Seed = seed,
        CreatedUtc = DateTimeOffset.UtcNow,
        Scenarios = scenarios.Select(s => new ScenarioProvenance(s.Name, $"{s.Gpu} / {s.Model}", s.CostModelKind, s.CostModel, null, null)).ToArray(),
    };
}
