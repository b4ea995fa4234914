using Xunit;

namespace Joules.Simulation.Tests;

/// <summary>A built joules prices with the profiles copied beside it; a different file where `joules calibrate` writes (./calibration) must not be passed over silently.</summary>
public sealed class ShadowedProfileTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "joules-shadow-" + Guid.NewGuid().ToString("N"));
    private const string Relative = "h200/llama-3.1-8b/profile.parquet";
    private static string Shipped => Path.Combine(Joules.Tests.RepoPaths.Calibration, Relative);
    private static string Other => Path.Combine(Joules.Tests.RepoPaths.Calibration, "h200/llama-3.1-8b/work-list-engine/profile.work-list.parquet");

    public void Dispose() { if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true); }

    private string Place(string root, string source)
    {
        var path = Path.Combine(_dir, root, Relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.Copy(source, path, overwrite: true);
        return path;
    }

    [Fact]
    public void AnotherProfileInTheWorkingDirectoryIsNamedWithTheWayToUseIt()
    {
        var bundled = Place("bin/data/calibration", Shipped);
        var work = Path.Combine(_dir, "work");
        Place("work/calibration", Other);
        var warning = CostModelFactory.ShadowedProfileWarning(bundled, Path.Combine(_dir, "bin/data/calibration"), work);
        Assert.NotNull(warning);
        Assert.Contains($"--profile {Path.Combine("calibration", Relative)}", warning);
        Assert.Contains(bundled, warning);
    }

    [Fact]
    public void TheSameBytesTheSameFileOrNoFileSayNothing()
    {
        var root = Path.Combine(_dir, "bin/data/calibration");
        var bundled = Place("bin/data/calibration", Shipped);
        var work = Path.Combine(_dir, "work");
        Assert.Null(CostModelFactory.ShadowedProfileWarning(bundled, root, work));      // no ./calibration
        Place("work/calibration", Shipped);
        Assert.Null(CostModelFactory.ShadowedProfileWarning(bundled, root, work));      // a copy of the same profile
        // Run from the folder that holds the profile root itself: the local file is the one used.
        Assert.Null(CostModelFactory.ShadowedProfileWarning(bundled, root, Path.Combine(_dir, "bin/data")));
        Assert.Null(CostModelFactory.ShadowedProfileWarning(null, root, work));
        // A profile outside the root (given with --profile) has no place under ./calibration to compare.
        Assert.Null(CostModelFactory.ShadowedProfileWarning(Other, root, work));
    }
}
