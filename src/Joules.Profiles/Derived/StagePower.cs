using Joules.Profiles.Measured;
using MathNet.Numerics.LinearAlgebra;

namespace Joules.Profiles.Derived;

/// <summary>A point's power split over its parts (fixed overhead, GEMMs, decode and prefill attention), fitted on the source's points: what a re-sharded point draws when its time divides differently between them.</summary>
/// <remarks>
/// The dynamic power above idle of point i is modelled as Σ_k w_k s_ik / T_i, s_ik the source seconds of part k, w_k the
/// dynamic watts while in that part (non-negative least squares, each row divided by its power so every point weighs
/// alike). A re-sharded point keeps its own deviation from the fit: its dynamic power is the fitted target power times
/// measured / fitted on the source. Why: a 70B tp8 shard's batch-1 decode spends 40 % of its 8 ms launching small
/// kernels at little more than idle, the tp2 shard's streams 4x the weights through the same launches, and the
/// H200 measured 396 W against 553 W for them.
/// </remarks>
internal sealed class StagePower
{
    private readonly double _idle;
    private readonly double[] _watts;

    private StagePower(double idle, double[] watts)
    {
        _idle = idle;
        _watts = watts;
    }

    /// <summary>Dynamic watts fitted for the fixed overhead, GEMMs, decode attention and prefill attention.</summary>
    public IReadOnlyList<double> DynamicWatts => _watts;

    /// <summary>Fits the parts' dynamic watts on the source points (<paramref name="parts"/>: each point's source split) above <paramref name="idle"/> watts.</summary>
    public static StagePower Fit(IReadOnlyList<ProfilePoint> points, IReadOnlyList<PointParts> parts, double idle)
    {
        var rows = Enumerable.Range(0, points.Count).Where(i => points[i].EnergyJoules / points[i].IterationSeconds > idle).ToArray();
        var a = Matrix<double>.Build.Dense(rows.Length, 4);
        var b = Vector<double>.Build.Dense(rows.Length);
        for (var r = 0; r < rows.Length; r++)
        {
            var i = rows[r];
            var t = points[i].IterationSeconds;
            var dynamic = points[i].EnergyJoules / t - idle;
            var s = parts[i].SourceSeconds;
            for (var k = 0; k < 4; k++) a[r, k] = s[k] / t / dynamic;
            b[r] = 1;
        }
        var w = rows.Length > 0 ? NonNegativeLeastSquares.Solve(a, b) : new double[4];
        return new StagePower(idle, w);
    }

    /// <summary>The power of a point that drew <paramref name="watts"/> with its source split, once its parts take their target times.</summary>
    public double Rescale(double watts, PointParts part)
    {
        var s = part.SourceSeconds;
        var t = part.TargetSeconds;
        double sourceSeconds = s.Sum(), targetSeconds = t.Sum();
        if (!(sourceSeconds > 0) || !(targetSeconds > 0)) return watts;
        double fittedSource = Dot(s) / sourceSeconds, fittedTarget = Dot(t) / targetSeconds;
        // A point the fit gives no dynamic power (all its parts fitted at 0 W) keeps its measured power.
        if (!(fittedSource > 0)) return watts;
        return _idle + fittedTarget * ((watts - _idle) / fittedSource);
    }

    private double Dot(double[] seconds) => seconds.Select((x, k) => x * _watts[k]).Sum();
}
