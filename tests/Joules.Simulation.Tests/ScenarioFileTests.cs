using Joules.Simulation.Settings;
using Xunit;

namespace Joules.Simulation.Tests;

/// <summary>How a scenario file's configurations combine with the command line's settings.</summary>
public class ScenarioFileTests
{
    private const string Yaml = """
        defaults:
          router: round-robin
        scenarios:
          - name: two
            instances: 2
          - name: three
            instances: 3
          - name: plain
        """;

    [Fact]
    public void TheFileWinsAndEveryCommandLineSettingItOverridesIsNamed()
    {
        var file = ScenarioFile.Parse(Yaml);
        var cli = new ScenarioSpec().With(SimulateSettings.Instances, 5).With(SimulateSettings.Router, "random").With(SimulateSettings.Seed, 7);
        var (specs, warnings) = file.With(cli);
        // A file comparing instance counts keeps comparing them; the command line fills what the file leaves unset.
        Assert.Equal([2, 3, 5], specs.Select(s => s.GetOr(SimulateSettings.Instances, 0)));
        Assert.All(specs, s => Assert.Equal("round-robin", s.Text(SimulateSettings.Router)));
        Assert.All(specs, s => Assert.Equal(7, s.GetOr(SimulateSettings.Seed, 0)));
        Assert.Equal(2, warnings.Count);
        Assert.Contains(warnings, w => w.Contains("--instances on the command line is ignored by scenario 'two', 'three'"));
        Assert.Contains(warnings, w => w.Contains("--router on the command line is ignored by every scenario") && w.Contains("in its defaults"));
        Assert.Empty(file.With(new ScenarioSpec().With(SimulateSettings.Seed, 1)).Warnings);
    }
}
