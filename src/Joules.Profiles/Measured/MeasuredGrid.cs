namespace Joules.Profiles.Measured;

/// <summary>
/// Measured time and energy over a rectangular grid (batch x tokens or context per sequence), completed so
/// that bilinear interpolation is continuous and monotone everywhere inside it.
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item>Axes are the measured values plus a line at 0 below each axis (no work along it): there the value is
///   the fit's, capped by the first measured line, so shapes smaller than any measured point blend from the
///   measured edge into the fit instead of jumping to it.</item>
/// <item>An unmeasured node inside the grid (a skipped point, or a corner beyond the calibrator's token
///   budget) gets the fit's time plus the time residual (measured - fit) of its nearest measured
///   neighbours along both axes, weighted by the inverse of their distance in log scale; its energy likewise, except where those neighbours all draw the power limit
///   (within <see cref="NearLimit"/>): there its energy is its filled time at their mean power.</item>
/// <item>Values are then made non-decreasing along both axes (a running maximum): a point measured cheaper
///   than a smaller one (noise) is raised to it. <see cref="RaisedPoints"/> counts those.</item>
/// </list>
/// A query inside a cell whose four corners were all measured is <see cref="PricingClass.Interpolated"/>; one
/// that leans on a filled or zero-line node is <see cref="PricingClass.Fitted"/>; a measured node is
/// <see cref="PricingClass.Exact"/>. The simulator queries this once per iteration, so lookups are scans
/// over a handful of axis values and index arithmetic.
/// </remarks>
internal sealed class MeasuredGrid
{
    private readonly double[] _xs;
    private readonly double[] _ys;
    private readonly double[,] _t;
    private readonly double[,] _e;
    private readonly bool[,] _measured;
    // The same tables flattened (index i * ys + j) for the lookup, which runs on every estimate.
    private readonly double[] _flatT;
    private readonly double[] _flatE;
    private readonly bool[] _flatMeasured;
    // With residual interpolation: the fit at every node and the fit itself. Between nodes the grid then interpolates
    // the residual (measured - fit) and adds the fit at the query, so curvature the fit knows (attention's quadratic
    // term between 8k and 32k prompts) is not flattened into a straight line between far-apart measured sizes.
    private readonly double[] _flatFitT;
    private readonly double[] _flatFitE;
    private readonly Func<double, double, (double T, double E)>? _residualFit;

    /// <param name="points">Measured (x, y, time, energy); repeated coordinates are averaged.</param>
    /// <param name="fit">The fit's (time, energy) at grid coordinates, for zero lines and unmeasured nodes.</param>
    /// <param name="interpolateResiduals">Between nodes, interpolate measured minus fit and add the fit at the query
    /// (for a grid whose cost curves along an axis, as prefill's attention does with prompt length) instead of
    /// interpolating the measured values themselves (which keeps the estimate linear between nodes).</param>
    /// <param name="capWatts">The GPU's power limit (per GPU, as the grid's energies are): where an unmeasured node's
    /// measured neighbours all draw it, the node's energy is its time at their power (see the remarks).</param>
    public MeasuredGrid(IEnumerable<(double X, double Y, double T, double E)> points, Func<double, double, (double T, double E)> fit,
        bool interpolateResiduals = false, double capWatts = double.PositiveInfinity)
    {
        var groups = points.GroupBy(p => (p.X, p.Y)).ToArray();
        if (groups.Length == 0) throw new ArgumentException("a measured grid needs at least one point");
        var mx = groups.Select(g => g.Key.X).Distinct().Order().ToList();
        var my = groups.Select(g => g.Key.Y).Distinct().Order().ToList();
        // The zero lines: shapes below the smallest measured ones interpolate towards the fit there.
        if (mx[0] > 0) mx.Insert(0, 0);
        if (my[0] > 0) my.Insert(0, 0);
        _xs = mx.ToArray();
        _ys = my.ToArray();
        int nx = _xs.Length, ny = _ys.Length;
        _t = new double[nx, ny];
        _e = new double[nx, ny];
        _measured = new bool[nx, ny];
        var fitT = new double[nx, ny];
        var fitE = new double[nx, ny];
        for (var i = 0; i < nx; i++)
        for (var j = 0; j < ny; j++)
            (fitT[i, j], fitE[i, j]) = fit(_xs[i], _ys[j]);
        foreach (var g in groups)
        {
            var (i, j) = (Array.BinarySearch(_xs, g.Key.X), Array.BinarySearch(_ys, g.Key.Y));
            _t[i, j] = g.Average(p => p.T);
            _e[i, j] = g.Average(p => p.E);
            _measured[i, j] = true;
        }
        int i0 = _xs[0] == 0 && !ColumnMeasured(0) ? 1 : 0, j0 = _ys[0] == 0 && !RowMeasured(0) ? 1 : 0;

        // Unmeasured inner nodes: the fit plus the nearest measured neighbours' mean residual.
        for (var i = i0; i < nx; i++)
        for (var j = j0; j < ny; j++)
        {
            if (_measured[i, j]) continue;
            double rt = 0, re = 0, watts = 0, n = 0;
            var capped = true;
            // Each neighbour weighs by the inverse of its distance in log scale (batch and tokens are geometric axes): a node
            // between batch 8 and a measured point 8x further along tokens leans on batch 8. With plain means the 70B tp2
            // shard's filled 16 x 128 prefill took half its residual from 16 x 1024, and the slope from the measured 8 x 128 to
            // it stepped 1.8 % away from the fit's.
            void Take(int a, int b)
            {
                var w = 1 / (Math.Abs(Math.Log((_xs[a] + 1) / (_xs[i] + 1))) + Math.Abs(Math.Log((_ys[b] + 1) / (_ys[j] + 1))));
                rt += w * (_t[a, b] - fitT[a, b]);
                re += w * (_e[a, b] - fitE[a, b]);
                watts += w * _e[a, b] / _t[a, b];
                capped &= _e[a, b] / _t[a, b] >= (1 - NearLimit) * capWatts;
                n += w;
            }
            for (var a = i - 1; a >= i0; a--) if (_measured[a, j]) { Take(a, j); break; }
            for (var a = i + 1; a < nx; a++) if (_measured[a, j]) { Take(a, j); break; }
            for (var b = j - 1; b >= j0; b--) if (_measured[i, b]) { Take(i, b); break; }
            for (var b = j + 1; b < ny; b++) if (_measured[i, b]) { Take(i, b); break; }
            _t[i, j] = fitT[i, j] + (n > 0 ? rt / n : 0);
            // Where the neighbours all draw the power limit the GPU's capping pins the node's power too, which the fit's
            // linear energy law (static power x time + energy per unit of work) cannot follow: the H200 prefills draw 700 W
            // from their smallest measured chunk on (the 8B's 128-token prompt 705 W, its neighbours 704 and 706 W) while the
            // fit built without that point sags to 658 W there (-13 % energy, -6 % time). Below the limit power follows the
            // work (decode's rises with batch), which the fit tracks, so there the energy residual fills the node.
            _e[i, j] = capped && n > 0 ? _t[i, j] * watts / n : fitE[i, j] + (n > 0 ? re / n : 0);
            FilledPoints++;
        }

        // Non-decreasing along both axes (a running maximum along x, then along y, keeps both).
        var before = (double[,])_t.Clone();
        var beforeE = (double[,])_e.Clone();
        for (var j = j0; j < ny; j++)
        for (var i = i0 + 1; i < nx; i++)
        {
            _t[i, j] = Math.Max(_t[i, j], _t[i - 1, j]);
            _e[i, j] = Math.Max(_e[i, j], _e[i - 1, j]);
        }
        for (var i = i0; i < nx; i++)
        for (var j = j0 + 1; j < ny; j++)
        {
            _t[i, j] = Math.Max(_t[i, j], _t[i, j - 1]);
            _e[i, j] = Math.Max(_e[i, j], _e[i, j - 1]);
        }
        for (var i = 0; i < nx; i++)
        for (var j = 0; j < ny; j++)
            if (_measured[i, j] && (_t[i, j] != before[i, j] || _e[i, j] != beforeE[i, j])) RaisedPoints++;

        // Zero lines: the fit, but never above the first measured line (so the grid stays monotone).
        if (i0 == 1)
            for (var j = j0; j < ny; j++)
            {
                _t[0, j] = Math.Min(fitT[0, j], _t[1, j]);
                _e[0, j] = Math.Min(fitE[0, j], _e[1, j]);
            }
        if (j0 == 1)
            for (var i = 0; i < nx; i++)
            {
                var (ct, ce) = (Math.Min(fitT[i, 0], _t[i, 1]), Math.Min(fitE[i, 0], _e[i, 1]));
                // Along the zero row the running maximum keeps it monotone in x even where the fit is flat.
                _t[i, 0] = i > 0 ? Math.Max(ct, Math.Min(_t[i - 1, 0], _t[i, 1])) : ct;
                _e[i, 0] = i > 0 ? Math.Max(ce, Math.Min(_e[i - 1, 0], _e[i, 1])) : ce;
            }

        _flatT = new double[nx * ny];
        _flatE = new double[nx * ny];
        _flatMeasured = new bool[nx * ny];
        _flatFitT = new double[nx * ny];
        _flatFitE = new double[nx * ny];
        for (var i = 0; i < nx; i++)
        for (var j = 0; j < ny; j++)
        {
            (_flatT[i * ny + j], _flatE[i * ny + j], _flatMeasured[i * ny + j]) = (_t[i, j], _e[i, j], _measured[i, j]);
            (_flatFitT[i * ny + j], _flatFitE[i * ny + j]) = (fitT[i, j], fitE[i, j]);
        }
        _residualFit = interpolateResiduals ? fit : null;
    }

    private bool ColumnMeasured(int i)
    {
        for (var j = 0; j < _ys.Length; j++) if (_measured[i, j]) return true;
        return false;
    }

    private bool RowMeasured(int j)
    {
        for (var i = 0; i < _xs.Length; i++) if (_measured[i, j]) return true;
        return false;
    }

    /// <summary>How far below the power limit (a fraction of it) a measured point still counts as drawing it: measured
    /// means scatter by about a percent around the limit (the H200 prefills: 676-709 W under a 700 W limit).</summary>
    public const double NearLimit = 0.03;

    /// <summary>Largest value on the first axis (batch).</summary>
    public double XMax => _xs[^1];

    /// <summary>Largest value on the second axis (tokens or context per sequence).</summary>
    public double YMax => _ys[^1];

    /// <summary>The grid's values on the second axis, ascending, the zero line included.</summary>
    public IReadOnlyList<double> Ys => _ys;

    /// <summary>Unmeasured nodes inside the grid that were filled from the fit and their neighbours.</summary>
    public int FilledPoints { get; }

    /// <summary>Measured nodes raised to keep time and energy non-decreasing along both axes.</summary>
    public int RaisedPoints { get; }

    /// <summary>Time and energy at (x, y), which must lie in [0, XMax] x [0, YMax]; <paramref name="pricing"/> tells how they were found.</summary>
    public (double T, double E) At(double x, double y, out PricingClass pricing)
    {
        var i = Cell(_xs, x);
        var j = Cell(_ys, y);
        var ny = _ys.Length;
        int i1 = i + 1 < _xs.Length ? i + 1 : i, j1 = j + 1 < ny ? j + 1 : j;
        double x0 = _xs[i], x1 = _xs[i1], y0 = _ys[j], y1 = _ys[j1];
        var u = x1 > x0 ? (x - x0) / (x1 - x0) : 0;
        var w = y1 > y0 ? (y - y0) / (y1 - y0) : 0;
        int a = i * ny, b = (u > 0 ? i1 : i) * ny, c = j, d = w > 0 ? j1 : j;
        if (a == b && c == d)
        {
            pricing = _flatMeasured[a + c] ? PricingClass.Exact : PricingClass.Fitted;
            return (_flatT[a + c], _flatE[a + c]);
        }
        pricing = _flatMeasured[a + c] && _flatMeasured[b + c] && _flatMeasured[a + d] && _flatMeasured[b + d] ? PricingClass.Interpolated : PricingClass.Fitted;
        double w00 = (1 - u) * (1 - w), w10 = u * (1 - w), w01 = (1 - u) * w, w11 = u * w;
        if (_residualFit is null)
            return (w00 * _flatT[a + c] + w10 * _flatT[b + c] + w01 * _flatT[a + d] + w11 * _flatT[b + d],
                    w00 * _flatE[a + c] + w10 * _flatE[b + c] + w01 * _flatE[a + d] + w11 * _flatE[b + d]);
        var (ft, fe) = _residualFit(x, y);
        double t = ft + w00 * (_flatT[a + c] - _flatFitT[a + c]) + w10 * (_flatT[b + c] - _flatFitT[b + c])
                      + w01 * (_flatT[a + d] - _flatFitT[a + d]) + w11 * (_flatT[b + d] - _flatFitT[b + d]);
        double e = fe + w00 * (_flatE[a + c] - _flatFitE[a + c]) + w10 * (_flatE[b + c] - _flatFitE[b + c])
                      + w01 * (_flatE[a + d] - _flatFitE[a + d]) + w11 * (_flatE[b + d] - _flatFitE[b + d]);
        // Within the cell's corners, as plain bilinear interpolation is: the grid stays bounded and monotone between nodes.
        return (Math.Clamp(t, _flatT[a + c], _flatT[b + d]), Math.Clamp(e, _flatE[a + c], _flatE[b + d]));
    }

    // Index of the last axis value <= v (v within the axis range). Axes hold a handful of values, so a scan beats a binary search.
    private static int Cell(double[] axis, double v)
    {
        var i = 0;
        while (i < axis.Length - 1 && axis[i + 1] <= v) i++;
        return i;
    }

}
