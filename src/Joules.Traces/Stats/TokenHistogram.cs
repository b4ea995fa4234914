namespace Joules.Traces.Stats;

/// <summary>Exact counts of integer token lengths with bounded memory (dense up to 128k tokens, sparse beyond), for exact percentiles over any number of requests.</summary>
public sealed class TokenHistogram
{
    private const int Dense = 1 << 17;
    private readonly long[] _dense = new long[Dense];
    private readonly SortedDictionary<int, long> _sparse = new();

    public long Count { get; private set; }
    public long Sum { get; private set; }
    public int Max { get; private set; } = int.MinValue;
    public int Min { get; private set; } = int.MaxValue;
    public double Mean => Count == 0 ? double.NaN : (double)Sum / Count;

    public void Add(int value)
    {
        if ((uint)value < Dense) _dense[value]++;
        else _sparse[value] = _sparse.GetValueOrDefault(value) + 1;
        Count++;
        Sum += value;
        if (value > Max) Max = value;
        if (value < Min) Min = value;
    }

    /// <summary>Nearest-rank percentile: the smallest value with at least ceil(p/100·N) values at or below it.</summary>
    public int Percentile(double p)
    {
        if (Count == 0) throw new InvalidOperationException("no values");
        var rank = Math.Clamp((long)Math.Ceiling(p / 100.0 * Count), 1, Count);
        long seen = 0;
        foreach (var (value, n) in _sparse.Where(kv => kv.Key < 0))
            if ((seen += n) >= rank) return value;
        for (var v = 0; v < Dense; v++)
            if ((seen += _dense[v]) >= rank) return v;
        foreach (var (value, n) in _sparse.Where(kv => kv.Key >= Dense))
            if ((seen += n) >= rank) return value;
        return Max;
    }

    /// <summary>Every distinct value with its count, ascending (for resampling and fitting).</summary>
    public IEnumerable<(int Value, long Count)> Values()
    {
        foreach (var kv in _sparse.Where(kv => kv.Key < 0)) yield return (kv.Key, kv.Value);
        for (var v = 0; v < Dense; v++) if (_dense[v] > 0) yield return (v, _dense[v]);
        foreach (var kv in _sparse.Where(kv => kv.Key >= Dense)) yield return (kv.Key, kv.Value);
    }
}
