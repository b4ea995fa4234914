namespace Joules.Parquet.Tests;

/// <summary>Locates the repository and the shared fixtures from the test binary's folder.</summary>
internal static class TestPaths
{
    public static string RepoRoot => Joules.Tests.RepoPaths.Root;

    public static string Fixtures => Joules.Tests.RepoPaths.Shared("fixtures", "parquet-testing");

    public static string Fixture(string name) => Path.Combine(Fixtures, name);

    public static string TempFile(string suffix = ".parquet") => Path.Combine(Path.GetTempPath(), $"joules-pq-{Guid.NewGuid():N}{suffix}");
}
