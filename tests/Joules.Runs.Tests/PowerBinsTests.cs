using Joules.Runs;
using Xunit;

namespace Joules.Runs.Tests;

public class PowerBinsTests
{
    [Fact]
    public void AWeekOnThreeHundredInstancesGetsFiveMinuteBins()
    {
        // 604,800 s x 300 instances: 1 s bins would be 181 M rows; the smallest round width under 1 M rows is 300 s
        // (2,016 bins x 300 = 604,800 rows; 180 s is not in the list and 120 s would give 1.5 M).
        var w = PowerBins.Choose(null, 604_800, 300, out var rows);
        Assert.Equal(300, w);
        Assert.Equal(604_800, rows);
    }

    [Fact]
    public void AnHourOnEightInstancesKeepsOneSecondBins()
    {
        Assert.Equal(1, PowerBins.Choose(null, 3_660, 8, out var rows));
        Assert.Equal(29_280, rows);
    }

    [Fact]
    public void ARequestedWidthThatWouldExplodeIsRefusedWithTheEstimate()
    {
        var e = Assert.Throws<ArgumentException>(() => PowerBins.Choose(1, 604_800, 300, out _));
        Assert.Contains("--power-bin 1 s would write about 181,440,000 power rows", e.Message);
        Assert.Contains("at least 10 s", e.Message);
        Assert.Equal(10, PowerBins.Choose(10, 604_800, 300, out var rows));
        Assert.Equal(18_144_000, rows);
    }
}
