namespace Joules.Traces.Transform;

/// <summary>Streaming transformations of arrival-sorted traces: slice by time, sample, scale the rate, tile, merge. Each keeps the output sorted.</summary>
public static class TraceTransforms
{
    /// <summary>Requests with <paramref name="fromMicros"/> ≤ arrival &lt; <paramref name="toMicros"/> (absolute times); adjacent slices partition a trace. With <paramref name="rebaseToMicros"/>, arrivals shift so the slice starts there.</summary>
    public static IEnumerable<TraceRequest> Slice(IEnumerable<TraceRequest> source, long fromMicros, long toMicros, long? rebaseToMicros = null)
    {
        var shift = rebaseToMicros is { } b ? b - fromMicros : 0;
        foreach (var r in source)
        {
            if (r.ArrivalMicros < fromMicros) continue;
            if (r.ArrivalMicros >= toMicros) yield break; // sorted input: nothing later can fall inside
            yield return shift == 0 ? r : r with { ArrivalMicros = r.ArrivalMicros + shift };
        }
    }

    /// <summary>Keeps each request independently with probability <paramref name="fraction"/>, reproducibly for a seed; ids are kept.</summary>
    public static IEnumerable<TraceRequest> Sample(IEnumerable<TraceRequest> source, double fraction, int seed)
    {
        if (fraction is < 0 or > 1) throw new ArgumentOutOfRangeException(nameof(fraction), "sample fraction must be in [0, 1]");
        var rng = new Random(seed);
        foreach (var r in source)
            if (rng.NextDouble() < fraction) yield return r;
    }

    /// <summary>Multiplies the arrival rate by <paramref name="factor"/>: gaps from the first arrival are divided by it (2 = twice as many requests per second). Counts and tokens are unchanged.</summary>
    public static IEnumerable<TraceRequest> ScaleRate(IEnumerable<TraceRequest> source, double factor)
    {
        if (!(factor > 0) || !double.IsFinite(factor)) throw new ArgumentOutOfRangeException(nameof(factor), "rate factor must be a positive number");
        long? t0 = null;
        foreach (var r in source)
        {
            t0 ??= r.ArrivalMicros;
            yield return r with { ArrivalMicros = t0.Value + (long)Math.Round((r.ArrivalMicros - t0.Value) / factor) };
        }
    }

    /// <summary>Repeats a trace <paramref name="copies"/> times back to back, each copy shifted by the trace's span plus one mean gap so the rate carries on; ids are renumbered 0..N-1 and session ids of copy k &gt; 0 get the suffix "#k" so copies do not share sessions. <paramref name="open"/> is called once per pass (k + 1 passes), so the trace need not fit in memory.</summary>
    public static IEnumerable<TraceRequest> Tile(Func<IEnumerable<TraceRequest>> open, int copies)
    {
        if (copies < 1) throw new ArgumentOutOfRangeException(nameof(copies), "copies must be at least 1");
        long n = 0, first = 0, last = 0;
        foreach (var r in open())
        {
            if (n == 0) first = r.ArrivalMicros;
            last = r.ArrivalMicros;
            n++;
        }
        if (n == 0) yield break;
        var period = (last - first) + (n > 1 ? (long)Math.Round((double)(last - first) / (n - 1)) : 1_000_000);
        if (period <= 0) period = 1;
        long id = 0;
        for (var k = 0; k < copies; k++)
        {
            var shift = k * period;
            foreach (var r in open())
                yield return r with
                {
                    RequestId = id++,
                    ArrivalMicros = r.ArrivalMicros + shift,
                    SessionId = k > 0 && r.SessionId is { } s ? $"{s}#{k}" : r.SessionId,
                };
        }
    }

    /// <summary>Interleaves sorted traces by arrival (ties go to the earlier input); ids are renumbered 0..N-1. Counts and token sums add up.</summary>
    public static IEnumerable<TraceRequest> Merge(IReadOnlyList<IEnumerable<TraceRequest>> sources)
    {
        var enumerators = sources.Select(s => s.GetEnumerator()).ToArray();
        try
        {
            var heap = new PriorityQueue<int, (long Arrival, int Source)>();
            for (var i = 0; i < enumerators.Length; i++)
                if (enumerators[i].MoveNext()) heap.Enqueue(i, (enumerators[i].Current.ArrivalMicros, i));
            long id = 0;
            while (heap.TryDequeue(out var i, out _))
            {
                var e = enumerators[i];
                yield return e.Current with { RequestId = id++ };
                if (e.MoveNext()) heap.Enqueue(i, (e.Current.ArrivalMicros, i));
            }
        }
        finally
        {
            foreach (var e in enumerators) e.Dispose();
        }
    }
}
