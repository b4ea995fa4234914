namespace Joules.Calibration.Measurement;

/// <summary>
/// The stand-in for a grid point that does not fit in device memory: the same point with its decodes' context cut to
/// the longest that fits (`calibrate --fit-to-memory`).
/// </summary>
/// <remarks>
/// A shard with little room beside its weights (one GPU of Llama-3.1-70B at tp=2 has 79 GB for everything else) skips
/// the grid's KV-heavy points: decode b=128/256 at 4096 and the offline points with 512-1024 riding decodes. Its
/// profile then tops out at fewer decodes and less context than the server it prices holds (an offline run of the tp2
/// shard was 81 % extrapolated), while the shapes a full KV cache produces — many decodes at moderate context — are
/// exactly what the stand-in measures. Only decode context is cut (batch, prompt and cached context are the point's
/// own), in steps of <see cref="Step"/> tokens, never below <see cref="MinContext"/>.
/// </remarks>
public static class MemoryFit
{
    /// <summary>Shortest decode context per sequence a stand-in may have (the grid's shortest).</summary>
    public const int MinContext = 256;

    /// <summary>Granularity of the cut context (whole KV pages of any page size up to it).</summary>
    public const int Step = 64;

    /// <summary>The point with the longest decode context (a multiple of <see cref="Step"/>, at least <see cref="MinContext"/>,
    /// below the point's own) for which <paramref name="fits"/> holds; null when the point has no decode context to cut or
    /// even the shortest does not fit.</summary>
    public static CalibrationPoint? StandIn(CalibrationPoint point, Func<CalibrationPoint, bool> fits)
    {
        var own = DecodeContext(point);
        // Candidates MinContext, MinContext + Step, ... below the point's own context; fitting is monotone in context.
        var steps = (own - 1 - MinContext) / Step;
        if (own <= MinContext || !fits(WithDecodeContext(point, MinContext))) return null;
        int lo = 0, hi = steps;
        while (lo < hi)
        {
            var mid = (lo + hi + 1) / 2;
            if (fits(WithDecodeContext(point, MinContext + mid * Step))) lo = mid; else hi = mid - 1;
        }
        return WithDecodeContext(point, MinContext + lo * Step);
    }

    /// <summary>Whether <paramref name="standIn"/> is <paramref name="gridPoint"/> with a shorter decode context, as <see cref="StandIn"/> makes them (a raw log holds no other points beside its grid's).</summary>
    public static bool IsStandInOf(CalibrationPoint standIn, CalibrationPoint gridPoint) =>
        DecodeContext(gridPoint) is > 0 and var own && WithDecodeContext(standIn, own) == gridPoint && DecodeContext(standIn) < own;

    // The context of a point's decodes: a decode point's own, a mixed point's riding decodes' (0 where there are none).
    private static int DecodeContext(CalibrationPoint p) => p.Phase switch
    {
        Phase.Decode => p.ContextTokens,
        Phase.Mixed when p.DecodeSequences > 0 => p.DecodeContext,
        _ => 0,
    };

    private static CalibrationPoint WithDecodeContext(CalibrationPoint p, int context) =>
        p.Phase == Phase.Decode ? p with { ContextTokens = context } : p with { DecodeContext = context };
}
