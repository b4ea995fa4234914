using System.Text.Json;
using Xunit;

namespace Joules.Validation.Tests;

/// <summary>Writing a validation into a run folder never loses one that another profile priced.</summary>
public class ValidationFilesTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("joules-validation-files-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    // The committed runs' trace, priced by the shipped profile or the one given.
    private static ValidationOptions Options(string? profile) => new()
    {
        ProfileRoot = Joules.Tests.RepoPaths.Calibration,
        TracePath = Joules.Tests.RepoPaths.Shared("traces", "azure2023_AzureLLMInferenceTrace_conv.csv"),
        Overrides = profile is null ? new Joules.Simulation.ScenarioSpec()
            : new Joules.Simulation.ScenarioSpec().With(Joules.Simulation.Settings.SimulateSettings.Profile, profile),
    };

    private static string Sha(string path) =>
        JsonDocument.Parse(File.ReadAllText(path)).RootElement.GetProperty("profile").GetProperty("sha256").GetString()!;

    [Fact]
    public void ReValidatingWithAnotherProfileKeepsThePublishedValidationBesideTheNewOne()
    {
        // A copy of a committed run with its published validation (written before validations named their profile).
        var source = Path.Combine(Joules.Tests.RepoPaths.Calibration, "validation", "tensor-core-ccb303b4", "runs", "online");
        var run = Path.Combine(_dir, "online");
        Directory.CreateDirectory(run);
        foreach (var f in Directory.GetFiles(source)) File.Copy(f, Path.Combine(run, Path.GetFileName(f)));
        var published = File.ReadAllText(Path.Combine(run, "validation.json"));

        ValidationResult Validate(string? profile) => RunValidator.Validate(run, Options(profile));
        // Priced by the profile it was validated against: the unnamed published files move aside.
        var joules = Validate(Path.Combine(Joules.Tests.RepoPaths.Calibration, "h200", "llama-3.1-8b", "joules-prefill", "profile.joules-prefill.parquet"));
        var kept = ValidationFiles.Write(run, joules).Kept;
        Assert.Equal([Path.Combine(run, "validation.unnamed-profile.json"), Path.Combine(run, "validation.unnamed-profile.html")], kept);
        Assert.Equal(published, File.ReadAllText(kept[0]));
        var joulesSha = Sha(Path.Combine(run, "validation.json"));
        Assert.Equal(joules.ProfileFile!.Sha256, joulesSha);
        var joulesText = File.ReadAllText(Path.Combine(run, "validation.json"));

        // The shipped profile (cuDNN prefill) is another profile: that validation moves aside, named by its profile's hash.
        var shipped = Validate(null);
        Assert.NotEqual(joulesSha, shipped.ProfileFile!.Sha256);
        kept = ValidationFiles.Write(run, shipped).Kept;
        Assert.Equal([Path.Combine(run, $"validation.{joulesSha[..12]}.json"), Path.Combine(run, $"validation.{joulesSha[..12]}.html")], kept);
        Assert.Equal(joulesText, File.ReadAllText(kept[0]));
        Assert.Equal(shipped.ProfileFile.Sha256, Sha(Path.Combine(run, "validation.json")));

        // The same profile again: rewritten in place, nothing more kept, nothing lost.
        Assert.Empty(ValidationFiles.Write(run, Validate(null)).Kept);
        Assert.Equal(3, Directory.GetFiles(run, "validation*.json").Length);
        Assert.Equal(published, File.ReadAllText(Path.Combine(run, "validation.unnamed-profile.json")));
    }

    [Fact]
    public void AFolderWithoutAValidationOrWithAnUnreadableOneIsSimplyWritten()
    {
        var source = Path.Combine(Joules.Tests.RepoPaths.Calibration, "validation", "tensor-core-ccb303b4", "runs", "online");
        var v = RunValidator.Validate(source, Options(null));
        var empty = Path.Combine(_dir, "new");
        var written = ValidationFiles.Write(empty, v);
        Assert.Empty(written.Kept);
        Assert.Equal(written.Json + Environment.NewLine, File.ReadAllText(Path.Combine(empty, "validation.json")));
        Assert.True(File.Exists(Path.Combine(empty, "validation.html")));
        File.WriteAllText(Path.Combine(empty, "validation.json"), "{ not json");
        Assert.Empty(ValidationFiles.Write(empty, v).Kept);
        Assert.Equal(v.ProfileFile!.Sha256, Sha(Path.Combine(empty, "validation.json")));
    }
}
