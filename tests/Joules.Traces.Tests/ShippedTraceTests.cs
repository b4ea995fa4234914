using Joules.Traces.Canonical;
using Joules.Traces.Stats;
using Xunit;

namespace Joules.Traces.Tests;

/// <summary>The traces in traces/ that the simulator uses by default stay readable and as described in traces/README.md.</summary>
public class ShippedTraceTests
{
    [Theory]
    [InlineData("azure-conv-5min.parquet", 1_612, 1_823_587, 338_870)]
    [InlineData("azure-conv-1h.parquet", 19_924, 23_144_742, 4_213_256)]
    [InlineData("azure-code-1h.parquet", 8_713, 17_891_926, 237_454)]
    public void ShippedTraceMatchesItsReadme(string name, long requests, long inputSum, long outputSum)
    {
        var path = Path.Combine(TestData.RepoRoot, "traces", name);
        var s = TraceStatistics.Compute(CanonicalTraceReader.Read(path));
        Assert.Equal(requests, s.Requests);
        Assert.Equal(inputSum, s.InputTokens.Sum);
        Assert.Equal(outputSum, s.OutputTokens.Sum);
    }
}
