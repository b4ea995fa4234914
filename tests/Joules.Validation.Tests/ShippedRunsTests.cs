using System.Text.Json;
using Xunit;

namespace Joules.Validation.Tests;

/// <summary>The GPU runs committed under calibration/validation: complete, measured on a named GPU, and re-validating to what their validation.json says.</summary>
public class ShippedRunsTests
{
    public static TheoryData<string> Runs => new() { "online", "burst", "offline" };

    [Theory]
    [MemberData(nameof(Runs))]
    public void ACommittedRunRevalidatesToItsValidationJson(string name)
    {
        var folder = Path.Combine(Joules.Tests.RepoPaths.Calibration, "validation", "runs", name);
        var run = MeasuredRun.Load(folder);
        Assert.Equal("nvml", run.Metadata.Energy.Source);
        Assert.StartsWith("GPU-", run.Metadata.Energy.Gpus.Single().Uuid);
        Assert.Equal(run.Metadata.RequestsSent, run.Requests.Count);
        var committed = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "validation.json"))).RootElement.GetProperty("metrics");
        var v = RunValidator.Validate(folder, new ValidationOptions
        {
            ProfileRoot = Joules.Tests.RepoPaths.Calibration,
            TracePath = Joules.Tests.RepoPaths.Shared("traces", "azure2023_AzureLLMInferenceTrace_conv.csv"),
        });
        foreach (var m in v.Metrics)
        {
            var c = committed.GetProperty(m.Name);
            // The measured side is the run itself; the simulated side may drift a little as the simulator evolves.
            Assert.Equal(c.GetProperty("measured").GetDouble(), m.Measured, Math.Abs(m.Measured) * 1e-9);
            Assert.Equal(c.GetProperty("simulated").GetDouble(), m.Simulated, Math.Max(1, Math.Abs(m.Simulated)) * 0.02);
        }
    }

    public static TheoryData<string, long> RunsInTheServersLog => new() { { "online", 586 }, { "burst", 17760 }, { "offline", 18778 } };

    [Theory]
    [MemberData(nameof(RunsInTheServersLog))]
    public void ACommittedRunReplaysItsOwnIterationsFromTheServersLog(string name, long firstRow)
    {
        // One server served a warm-up and the three runs, one after another, into one iteration log; these runs were
        // recorded before run.json kept where their iterations begin, so each is found by its counters.
        var folder = Path.Combine(Joules.Tests.RepoPaths.Calibration, "validation", "runs", name);
        var o = new ValidationOptions
        {
            ProfileRoot = Joules.Tests.RepoPaths.Calibration,
            TracePath = Joules.Tests.RepoPaths.Shared("traces", "azure2023_AzureLLMInferenceTrace_conv.csv"),
        };
        var mean = RunValidator.Validate(folder, o);
        var v = RunValidator.Validate(folder, o with { IterationLog = Path.Combine(Joules.Tests.RepoPaths.Calibration, "validation", "runs", "all-iterations.parquet") });
        Assert.Equal(HostTimeSource.PerIteration, v.HostTime);
        Assert.False(v.Iterations!.LocatedByCounter);
        Assert.Equal(firstRow, v.Iterations.FirstRow);
        Assert.Equal(v.Run.Server!.Counter("joules:iterations_total"), v.Iterations.Count);
        // On a GPU the host time is what the loop spent beyond the device's own time (gap + the engine call's overshoot of
        // its GPU time), so replaying it per iteration moves the figures by host time only: about what the mean moved them
        // by, and nothing like a second copy of the device time (host time is well under 1 % of these runs).
        Assert.Equal(mean.IterationOverheadMs, v.IterationOverheadMs, mean.IterationOverheadMs * 0.01);
        double Sim(ValidationResult r, string metric) => r.Metrics.Single(m => m.Name == metric).Simulated;
        Assert.Equal(Sim(mean, "duration_s"), Sim(v, "duration_s"), Sim(mean, "duration_s") * 0.01);
        Assert.Equal(Sim(mean, "energy_j"), Sim(v, "energy_j"), Sim(mean, "energy_j") * 0.005);
        Assert.Equal(Sim(mean, "iterations"), Sim(v, "iterations"), Sim(mean, "iterations") * 0.01);
    }
}
