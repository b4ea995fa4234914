using FsCheck;
using FsCheck.Fluent;
using Joules.Planning;
using Xunit;

namespace Joules.Planning.Tests;

/// <summary>Laws of the Pareto frontier on random points (small integer coordinates, so ties and duplicates are common).</summary>
public class ParetoLawTests
{
    private static readonly Arbitrary<double[][]> Points =
        (from n in Gen.Choose(0, 40)
         from pts in Gen.ArrayOf(Gen.ArrayOf(Gen.Choose(0, 6).Select(v => (double)v), 3), n)
         select pts).ToArbitrary();

    [Fact]
    public void No_frontier_point_is_dominated_and_every_other_point_is_dominated_by_one_on_it()
    {
        Prop.ForAll(Points, pts =>
        {
            var frontier = Pareto.Frontier(pts, p => p);
            foreach (var f in frontier) Assert.DoesNotContain(pts, q => Pareto.Dominates(q, f));
            foreach (var p in pts.Where(p => !frontier.Contains(p)))
                Assert.Contains(frontier, f => Pareto.Dominates(f, p));
            if (pts.Length > 0) Assert.NotEmpty(frontier);
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void Dominance_is_strict_and_irreflexive()
    {
        Assert.False(Pareto.Dominates([1, 2], [1, 2]));
        Assert.True(Pareto.Dominates([1, 2], [1, 3]));
        Assert.False(Pareto.Dominates([0, 3], [1, 2]));
        Assert.Empty(Pareto.Frontier(new[] { new[] { double.NaN, 1 } }, p => p));
    }
}
