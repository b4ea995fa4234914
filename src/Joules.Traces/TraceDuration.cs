using System.Globalization;

namespace Joules.Traces;

/// <summary>Parses durations written for people: "90" or "90s", "5m", "1h", "7d", "250ms", "1.5h".</summary>
public static class TraceDuration
{
    public static double ParseSeconds(string text)
    {
        var t = text.Trim().ToLowerInvariant();
        (string num, double scale) = t switch
        {
            _ when t.EndsWith("ms", StringComparison.Ordinal) => (t[..^2], 1e-3),
            _ when t.EndsWith("us", StringComparison.Ordinal) => (t[..^2], 1e-6),
            _ when t.EndsWith('s') => (t[..^1], 1),
            _ when t.EndsWith('m') => (t[..^1], 60),
            _ when t.EndsWith('h') => (t[..^1], 3600),
            _ when t.EndsWith('d') => (t[..^1], 86400),
            _ => (t, 1),
        };
        if (!double.TryParse(num, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) || !double.IsFinite(v) || v < 0)
            throw new ArgumentException($"'{text}' is not a duration (e.g. 90s, 5m, 1h, 7d)");
        return v * scale;
    }

    public static bool TryParseSeconds(string text, out double seconds)
    {
        try { seconds = ParseSeconds(text); return true; }
        catch (ArgumentException) { seconds = 0; return false; }
    }
}
