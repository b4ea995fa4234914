namespace Joules.Profiles.Measured;

/// <summary>Sums of 1 / (a + k) for k = 0 .. n-1 in closed form: what charging a decode run's all-reduce at each step's own power needs.</summary>
public static class HarmonicSum
{
    /// <summary>Sum over k in [0, n) of 1 / (a + k), for a &gt; 0, to about 1e-14 relative.</summary>
    /// <remarks>
    /// Short sums are added directly. Long ones are the digamma difference psi(a + n) - psi(a), after the
    /// first terms are added directly until a &gt;= 16, with psi's asymptotic series to the x^-8 term
    /// (truncation below 1e-14 there); ln((a + n) / a) is taken as log1p(n / a) so that a run much shorter
    /// than a stays accurate.
    /// </remarks>
    public static double Sum(double a, long n)
    {
        if (!(a > 0)) throw new ArgumentOutOfRangeException(nameof(a), $"the offset must be positive, got {a}");
        if (n <= 0) return 0;
        double s = 0;
        if (n <= 64)
        {
            for (long k = 0; k < n; k++) s += 1.0 / (a + k);
            return s;
        }
        while (a < 16 && n > 0)
        {
            s += 1.0 / a;
            a += 1;
            n--;
        }
        if (n == 0) return s;
        var b = a + n;
        double ia2 = 1.0 / (a * a), ib2 = 1.0 / (b * b);
        var d = LogOnePlus(n / a) + n / (2.0 * a * b)
                - (ib2 - ia2) / 12.0
                + (ib2 * ib2 - ia2 * ia2) / 120.0
                - (ib2 * ib2 * ib2 - ia2 * ia2 * ia2) / 252.0
                + (ib2 * ib2 * ib2 * ib2 - ia2 * ia2 * ia2 * ia2) / 240.0;
        return s + d;
    }

    /// <summary>ln(1 + x), accurate for small x (the classic correction of the rounded 1 + x).</summary>
    public static double LogOnePlus(double x)
    {
        var u = 1.0 + x;
        return u == 1.0 ? x : Math.Log(u) * x / (u - 1.0);
    }
}
