namespace Joules.Traces.Import;

/// <summary>
/// Finds the first request id used twice, with memory that stays small for the ids traces have: runs of increasing
/// ids (0..N-1, or sorted ids with gaps) are kept as intervals; only ids below the largest seen so far go in a hash set.
/// </summary>
internal sealed class RequestIdCheck
{
    /// <summary>Duplicate ids are an error unless the user asks for new ids; the hint goes into every message.</summary>
    public const string Expected = "a request id no earlier row used (give --renumber to number the requests 0..N-1 by arrival instead)";

    private readonly List<(long Lo, long Hi)> _runs = [];
    private readonly HashSet<long> _others = [];

    /// <summary>False when <paramref name="id"/> was seen before.</summary>
    public bool Add(long id)
    {
        if (_runs.Count == 0) { _runs.Add((id, id)); return true; }
        var (lo, hi) = _runs[^1];
        if (id > hi)
        {
            if (id == hi + 1) _runs[^1] = (lo, id);
            else _runs.Add((id, id));
            return true;
        }
        // Below the largest id seen: in a run (binary search) or among the out-of-order ones.
        int a = 0, b = _runs.Count - 1;
        while (a <= b)
        {
            var m = (a + b) >> 1;
            if (id < _runs[m].Lo) b = m - 1;
            else if (id > _runs[m].Hi) a = m + 1;
            else return false;
        }
        return _others.Add(id);
    }

    public void Check(long id, string file, long line, string column)
    {
        if (!Add(id)) throw new TraceFormatException(file, line, column, Expected, id.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }
}
