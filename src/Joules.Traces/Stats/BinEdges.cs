using System.Globalization;

namespace Joules.Traces.Stats;

/// <summary>Ascending token-count bin edges starting at 0: bin i is [edge i, edge i+1), the last bin is open-ended.</summary>
public sealed class BinEdges
{
    public BinEdges(IEnumerable<int> edges)
    {
        var e = edges.ToList();
        if (e.Count == 0 || e[0] > 0) e.Insert(0, 0);
        for (var i = 1; i < e.Count; i++)
            if (e[i] <= e[i - 1]) throw new ArgumentException($"bin edges must increase strictly: {string.Join(",", e)}");
        if (e[0] < 0) throw new ArgumentException("bin edges must not be negative");
        Edges = e.ToArray();
    }

    public int[] Edges { get; }
    public int Count => Edges.Length;

    /// <summary>0, 1, 2, 4, … 2^30: the default, so each bin doubles the one before.</summary>
    public static BinEdges PowersOfTwo { get; } = new([0, .. Enumerable.Range(0, 31).Select(i => 1 << i)]);

    /// <summary>Parses "0,128,512,2048" or "pow2"; <paramref name="option"/> names the option in error messages.</summary>
    public static BinEdges Parse(string? spec, string option = "bin edges")
    {
        if (string.IsNullOrWhiteSpace(spec) || spec.Trim().Equals("pow2", StringComparison.OrdinalIgnoreCase)) return PowersOfTwo;
        var list = new List<int>();
        foreach (var part in spec.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            list.Add(int.TryParse(part, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) && v >= 0
                ? v : throw new ArgumentException($"{option}: '{part}' is not a non-negative whole number (give e.g. 0,128,512,2048 or pow2)"));
        try { return new BinEdges(list); }
        catch (ArgumentException e) { throw new ArgumentException($"{option}: {e.Message}"); }
    }

    public int IndexOf(int value)
    {
        var i = Array.BinarySearch(Edges, value);
        return i >= 0 ? i : Math.Max(0, ~i - 1);
    }

    /// <summary>Exclusive upper edge of bin i, or null for the open last bin.</summary>
    public int? Upper(int i) => i + 1 < Edges.Length ? Edges[i + 1] : null;
}
