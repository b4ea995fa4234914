using Joules.Profiles.Measured;
using MathNet.Numerics.LinearAlgebra;

namespace Joules.Profiles.Derived;

/// <summary>How a stage's time above its floor changes when its work does (another tensor-parallel shard on the same GPU): a part that grows with the work and a part per iteration that does not, fitted on the source's own points.</summary>
/// <remarks>
/// For each stage the source points' excess y over the floor x is fitted as y = a·x + b (non-negative least squares,
/// rows divided by x + y so each point weighs alike): a is throttling and under-use that scale with the work (a
/// power-capped prefill), b the per-kernel tails and launch latency an iteration pays whatever the shard (80 layers
/// of kernels either way). A point's excess on the target is (a·x' + b) times its own y / (a·x + b). Memory-bound
/// GEMMs are taken as tails only (a = 0): their floors, the weights' read, barely vary over a profile, so the fit
/// could not tell a from b, and the 70B shards' batch-1 decodes measured their GEMM excess unchanged from tp8 to tp2
/// (3.2 ms of launches and 5.0 ms of streaming 17.6 GB at tp8; 17 ms for 70.6 GB at tp2, the same excess).
/// Stages: 0 memory-bound GEMMs, 1 compute-bound GEMMs, 2 decode attention, 3 prefill attention.
/// </remarks>
internal sealed class ExcessScaling
{
    private readonly (double A, double B)[] _fit;

    private ExcessScaling((double A, double B)[] fit) => _fit = fit;

    /// <summary>The fitted (a, b) of each stage.</summary>
    public IReadOnlyList<(double A, double B)> Fit => _fit;

    /// <summary>Fits each stage on the source's (stage, floor, excess) samples.</summary>
    public static ExcessScaling FitSamples(IEnumerable<(int Stage, double Floor, double Excess)> samples)
    {
        var byStage = samples.Where(s => s.Floor > 0 && s.Excess >= 0).GroupBy(s => s.Stage).ToDictionary(g => g.Key, g => g.ToArray());
        var fit = new (double A, double B)[4];
        for (var k = 0; k < 4; k++)
        {
            if (!byStage.TryGetValue(k, out var rows) || rows.Length == 0) { fit[k] = (1, 0); continue; }
            if (k == 0) { fit[k] = (0, 1); continue; }
            var a = Matrix<double>.Build.Dense(rows.Length, 2);
            var b = Vector<double>.Build.Dense(rows.Length);
            for (var r = 0; r < rows.Length; r++)
            {
                var w = 1 / (rows[r].Floor + rows[r].Excess);
                a[r, 0] = rows[r].Floor * w;
                a[r, 1] = w;
                b[r] = rows[r].Excess * w;
            }
            var x = NonNegativeLeastSquares.Solve(a, b);
            fit[k] = x[0] + x[1] > 0 ? (x[0], x[1]) : (1, 0);
        }
        return new ExcessScaling(fit);
    }

    /// <summary>The excess on the target of a stage whose floor goes from <paramref name="floor"/> to <paramref name="targetFloor"/> (both at the source's rates) with <paramref name="excess"/> above it on the source.</summary>
    public double Scale(int stage, double floor, double excess, double targetFloor)
    {
        var (a, b) = _fit[stage];
        var model = a * floor + b;
        if (!(model > 0) || !(excess > 0)) return 0;
        return (a * targetFloor + b) * (excess / model);
    }
}
