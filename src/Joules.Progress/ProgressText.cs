using System.Globalization;

namespace Joules.Progress;

/// <summary>The text of one progress report, from a snapshot of a stage; pure, so tests pin its wording.</summary>
public static class ProgressText
{
    private static readonly CultureInfo Ci = CultureInfo.InvariantCulture;

    /// <summary>For example "importing conv.csv  45% (48.2 of 108.0 MB, 1,234,567 rows)  0:12 elapsed, about 0:15 left".</summary>
    public static string Describe(string label, long done, long? total, ProgressUnit unit, long? rows, TimeSpan elapsed, bool finished = false)
    {
        var amount = unit == ProgressUnit.Bytes
            ? (total is > 0 ? $"{Mb(done)} of {Mb(total.Value)} MB" : $"{Mb(done)} MB") + (rows is { } r ? string.Create(Ci, $", {r:N0} rows") : "")
            : total is > 0 ? string.Create(Ci, $"{done:N0} of {total.Value:N0} rows") : string.Create(Ci, $"{done:N0} rows");
        if (finished) return $"{label}  done ({amount}) in {Clock(elapsed)}";
        if (total is not > 0) return $"{label}  {amount}  {Clock(elapsed)} elapsed";
        var fraction = Math.Clamp((double)done / total.Value, 0, 1);
        // A total that was an estimate can be passed; never claim 100% before the stage ends.
        var percent = Math.Min(99, (int)Math.Floor(fraction * 100));
        var eta = Remaining(done, total.Value, elapsed);
        return $"{label}  {percent.ToString(Ci),2}% ({amount})  {Clock(elapsed)} elapsed" + (eta is { } e ? $", about {Clock(e)} left" : "");
    }

    /// <summary>Time left at the mean rate so far, or null before there is a rate to go by.</summary>
    public static TimeSpan? Remaining(long done, long total, TimeSpan elapsed)
    {
        if (done <= 0 || elapsed <= TimeSpan.Zero) return null;
        var left = Math.Max(0, total - done);
        return TimeSpan.FromSeconds(elapsed.TotalSeconds * left / done);
    }

    /// <summary>m:ss below an hour, else h:mm:ss.</summary>
    public static string Clock(TimeSpan t)
    {
        var s = (long)Math.Round(Math.Max(0, t.TotalSeconds));
        return s >= 3600 ? string.Create(Ci, $"{s / 3600}:{s / 60 % 60:00}:{s % 60:00}") : string.Create(Ci, $"{s / 60}:{s % 60:00}");
    }

    private static string Mb(long bytes) => (bytes / 1e6).ToString("F1", Ci);
}
