namespace Joules.Tests;

/// <summary>Where the repository, its shipped data and the shared data beside the checkout are, for every test project (linked in by Directory.Build.props).</summary>
internal static class RepoPaths
{
    /// <summary>The checkout: the nearest folder above the test binaries that holds Simulator.sln.</summary>
    public static string Root { get; } = FindRoot();

    /// <summary>Measured profiles shipped under calibration/.</summary>
    public static string Calibration => Path.Combine(Root, "calibration");

    /// <summary>A path under ../shared beside the checkout (public traces and fixtures; read, never copied).</summary>
    public static string Shared(params string[] parts) => Path.GetFullPath(Path.Combine([Root, "..", "shared", .. parts]));

    private static string FindRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "Simulator.sln"))) return d.FullName;
        throw new InvalidOperationException("Simulator.sln not found above " + AppContext.BaseDirectory);
    }
}
