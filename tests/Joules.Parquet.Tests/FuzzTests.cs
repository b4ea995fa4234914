using Xunit;
using Xunit.Abstractions;

namespace Joules.Parquet.Tests;

public class FuzzTests(ITestOutputHelper output)
{
    [Fact]
    public void MutatedFixturesFailOnlyWithParquetFormatException()
    {
        // JOULES_FUZZ_CASES raises the count for a longer local run; CI keeps it bounded.
        int cases = int.TryParse(Environment.GetEnvironmentVariable("JOULES_FUZZ_CASES"), out var c) ? c : 2000;
        var seeds = Directory.GetFiles(TestPaths.Fixtures, "*.parquet").Where(f => new FileInfo(f).Length < 200_000).ToList();
        var report = new ParquetFuzzer(seeds).Run(cases, seed: 12345, TimeSpan.FromSeconds(10));
        output.WriteLine($"{report.Cases} cases: {report.Read} read, {report.Rejected} rejected, {report.Failures.Count} failures in {report.Elapsed}");
        foreach (var f in report.Failures.Take(20)) output.WriteLine(f);
        Assert.True(report.Failures.Count == 0, string.Join("\n\n", report.Failures.Take(5)));
        Assert.True(report.Rejected > 0 && report.Read > 0);
    }
}
