namespace Joules.Parquet.Tests;

/// <summary>Locates the repository and the shared fixtures from the test binary's folder.</summary>
internal static class TestPaths
{
    public static string RepoRoot
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir != null && !File.Exists(Path.Combine(dir.FullName, "Simulator.sln"))) dir = dir.Parent;
            return dir?.FullName ?? throw new InvalidOperationException("Simulator.sln not found above " + AppContext.BaseDirectory);
        }
    }

    public static string Fixtures => Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared", "fixtures", "parquet-testing"));

    public static string Fixture(string name) => Path.Combine(Fixtures, name);

    public static string TempFile(string suffix = ".parquet") => Path.Combine(Path.GetTempPath(), $"joules-pq-{Guid.NewGuid():N}{suffix}");
}
