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
}
