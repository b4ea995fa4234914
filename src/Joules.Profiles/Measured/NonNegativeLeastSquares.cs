using MathNet.Numerics.LinearAlgebra;

namespace Joules.Profiles.Measured;

/// <summary>Lawson–Hanson non-negative least squares: min |Ax − b| subject to x ≥ 0.</summary>
/// <remarks>
/// The profile fit uses it because every feature (tokens, sequences, attention pairs, KV reads) can only
/// add time and energy; non-negative coefficients keep predictions positive and monotone when they
/// extrapolate beyond the measured grid, which an unconstrained fit of noisy data does not.
/// </remarks>
public static class NonNegativeLeastSquares
{
    public static double[] Solve(Matrix<double> a, Vector<double> b, int maxIterations = 0)
    {
        var n = a.ColumnCount;
        if (maxIterations <= 0) maxIterations = 3 * n + 10;
        // Scale columns to unit norm so the tolerance means the same for every feature.
        var scale = new double[n];
        var s = a.Clone();
        for (var j = 0; j < n; j++)
        {
            var norm = a.Column(j).L2Norm();
            scale[j] = norm > 0 ? norm : 1;
            s.SetColumn(j, a.Column(j) / scale[j]);
        }
        var x = Vector<double>.Build.Dense(n);
        var passive = new bool[n];
        var tol = 1e-10 * Math.Max(1, b.L2Norm());
        for (var iter = 0; iter < maxIterations; iter++)
        {
            var w = s.TransposeThisAndMultiply(b - s * x);
            var best = -1;
            var bestW = tol;
            for (var j = 0; j < n; j++)
                if (!passive[j] && w[j] > bestW) { bestW = w[j]; best = j; }
            if (best < 0) break;
            passive[best] = true;
            for (var inner = 0; inner < 3 * n + 10; inner++)
            {
                var z = SolvePassive(s, b, passive);
                var alpha = double.PositiveInfinity;
                for (var j = 0; j < n; j++)
                    if (passive[j] && z[j] <= 0)
                        alpha = Math.Min(alpha, x[j] / (x[j] - z[j]));
                if (double.IsPositiveInfinity(alpha))
                {
                    x = z;
                    break;
                }
                x += alpha * (z - x);
                for (var j = 0; j < n; j++)
                    if (passive[j] && x[j] <= 1e-15) { passive[j] = false; x[j] = 0; }
            }
        }
        var result = new double[n];
        for (var j = 0; j < n; j++) result[j] = Math.Max(0, x[j]) / scale[j];
        return result;
    }

    private static Vector<double> SolvePassive(Matrix<double> s, Vector<double> b, bool[] passive)
    {
        var cols = Enumerable.Range(0, passive.Length).Where(j => passive[j]).ToArray();
        var z = Vector<double>.Build.Dense(passive.Length);
        if (cols.Length == 0) return z;
        var sub = Matrix<double>.Build.Dense(s.RowCount, cols.Length, (i, k) => s[i, cols[k]]);
        // SVD tolerates the collinear columns a small grid can produce (e.g. sequences vs tokens in decode).
        var sol = sub.Svd(true).Solve(b);
        for (var k = 0; k < cols.Length; k++) z[cols[k]] = sol[k];
        return z;
    }
}
