using Joules.Profiles.Measured;
using Xunit;

namespace Joules.Profiles.Tests;

/// <summary>How <see cref="MeasuredGrid"/> completes a grid: measured nodes kept, unmeasured ones filled from the fit and their neighbours.</summary>
public class MeasuredGridTests
{
    // A fit of 1 s and 100 J at every node, so a node's value minus the fit is its residual.
    private static (double T, double E) Flat(double x, double y) => (1, 100);

    [Fact]
    public void AFilledNodeLeansOnItsNearerMeasuredNeighbourInLogScale()
    {
        // Batch 8 and 16 x 128/1024 tokens; 16 x 128 is not measured. Its neighbours: 8 x 128 (a factor 2 away in batch,
        // residual +0.5 s) and 16 x 1024 (a factor 8 away in tokens, residual +1 s).
        var grid = new MeasuredGrid(
        [
            (8, 128, 1.5, 150), (8, 1024, 2.0, 200), (16, 1024, 2.0, 200),
        ], Flat);
        Assert.Equal(1, grid.FilledPoints);
        var (t, e) = grid.At(16, 128, out var pricing);
        Assert.Equal(PricingClass.Fitted, pricing);
        // Weights 1/ln(17/9) and 1/ln(1025/129): the nearer neighbour's residual counts 77 % (a plain mean gave 50 %: 1.75 s).
        double w8 = 1 / Math.Log(17.0 / 9), w1024 = 1 / Math.Log(1025.0 / 129);
        Assert.Equal(1 + (0.5 * w8 + 1.0 * w1024) / (w8 + w1024), t, 1e-12);
        Assert.Equal(100 + (50 * w8 + 100 * w1024) / (w8 + w1024), e, 1e-9);
        Assert.InRange(t, 1.6, 1.65);
        // Measured nodes come back as measured.
        Assert.Equal(1.5, grid.At(8, 128, out pricing).T, 1e-12);
        Assert.Equal(PricingClass.Exact, pricing);
    }

    [Fact]
    public void EquallyFarNeighboursShareAFilledNodeEvenly()
    {
        // 4 x 256 unmeasured between 2 x 256 (residual +1) and 4 x 512 (residual +3), each about a factor of 2 away (in
        // x + 1: 5/3 and 513/257), so the node takes near their mean, and the grid stays non-decreasing along both axes.
        var grid = new MeasuredGrid([(2, 256, 2.0, 100), (2, 512, 2.0, 100), (4, 512, 4.0, 100)], Flat);
        var (t, _) = grid.At(4, 256, out _);
        double wb = 1 / Math.Log(5.0 / 3), wt = 1 / Math.Log(513.0 / 257);
        Assert.Equal(1 + (wb * 1 + wt * 3) / (wb + wt), t, 1e-12);
        Assert.InRange(t, 1 + 1.7, 1 + 2.1);
        Assert.True(grid.At(4, 512, out _).T >= t);
        Assert.True(t >= grid.At(2, 256, out _).T);
    }
}
