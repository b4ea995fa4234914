using System.Globalization;

namespace Joules.Profiles.Measured;

/// <summary>Every held-out point of a leave-one-out cross-validation as a text table, worst first: where the cost model is weak, not only its median and worst.</summary>
public static class CrossValidationTable
{
    /// <summary>Writes one row per held-out point (measured time and energy, what the model without it predicts, the errors and how it was priced), sorted by the larger of the two errors.</summary>
    public static void Write(CrossValidationReport report, TextWriter o)
    {
        var inv = CultureInfo.InvariantCulture;
        o.WriteLine($"  {"held-out point",-52} {"measured",10} {"predicted",10} {"time",8} {"measured",10} {"predicted",10} {"energy",8}  priced as");
        o.WriteLine($"  {"",-52} {"ms",10} {"ms",10} {"error",8} {"J",10} {"J",10} {"error",8}");
        foreach (var p in report.Points.OrderByDescending(p => Math.Max(Math.Abs(p.TimeError), Math.Abs(p.EnergyError))))
        {
            o.WriteLine(string.Create(inv,
                $"  {p.Point.ToString(),-52} {p.Point.IterationSeconds * 1e3,10:0.000} {p.PredictedSeconds * 1e3,10:0.000} {Signed(p.TimeError),8} " +
                $"{p.Point.EnergyJoules,10:0.000} {p.PredictedJoules,10:0.000} {Signed(p.EnergyError),8}  {p.Pricing.Label()}"));
        }
        int over5 = report.Points.Count(p => Math.Max(Math.Abs(p.TimeError), Math.Abs(p.EnergyError)) > 0.05);
        int over10 = report.Points.Count(p => Math.Max(Math.Abs(p.TimeError), Math.Abs(p.EnergyError)) > 0.10);
        o.WriteLine($"  {report.Count} points held out one at a time: {over5} off by more than 5 % and {over10} by more than 10 % in time or energy");
    }

    /// <summary>A relative error as a signed percentage with one decimal ("+1.3%", "-0.4%", "+0.0%").</summary>
    internal static string Signed(double v)
    {
        var r = Math.Round(v * 100, 1);
        if (r == 0) r = 0;                                  // no "-0.0%"
        return (r >= 0 ? "+" : "") + r.ToString("0.0", CultureInfo.InvariantCulture) + "%";
    }
}
