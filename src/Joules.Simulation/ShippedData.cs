namespace Joules.Simulation;

/// <summary>
/// Where the data that ships with Joules lives: the measured calibration profiles and the default trace. The build
/// copies them next to the program (<c>data/</c>), so the same command gives the same answer from any working
/// directory and from a published binary; a checkout's own folders are the fallback for hosts that load the
/// libraries without the CLI's output folder.
/// </summary>
public static class ShippedData
{
    /// <summary>The trace `joules simulate` replays when none is given, relative to the repository root (and to data/).</summary>
    public const string DefaultTrace = "traces/azure-conv-5min.parquet";

    /// <summary>The folder of shipped measured profiles (calibration/&lt;gpu&gt;/&lt;model&gt;[-tpN]/profile.parquet), or null.</summary>
    public static string? CalibrationRoot => Find("calibration", directory: true);

    /// <summary>The shipped default trace, or null when it is missing.</summary>
    public static string? DefaultTracePath => Find(DefaultTrace, directory: false);

    /// <summary>Where each shipped path was looked for, for error messages.</summary>
    public static IEnumerable<string> Candidates(string relative)
    {
        var baseDir = AppContext.BaseDirectory;
        yield return Path.Combine(baseDir, "data", relative);
        for (var dir = new DirectoryInfo(baseDir); dir != null; dir = dir.Parent)
        {
            if (!File.Exists(Path.Combine(dir.FullName, "Simulator.sln"))) continue;
            yield return Path.Combine(dir.FullName, relative);
            yield break;
        }
    }

    private static string? Find(string relative, bool directory) =>
        Candidates(relative).FirstOrDefault(p => directory ? Directory.Exists(p) : File.Exists(p));
}
