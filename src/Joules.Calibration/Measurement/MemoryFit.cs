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
        var own = point.Phase switch
        {
            Phase.Decode => point.ContextTokens,
            Phase.Mixed when point.DecodeSequences > 0 => point.DecodeContext,
            _ => 0,
        };
        CalibrationPoint At(int context) => point.Phase == Phase.Decode ? point with { ContextTokens = context } : point with { DecodeContext = context };
        // Candidates MinContext, MinContext + Step, ... below the point's own context; fitting is monotone in context.
        var steps = (own - 1 - MinContext) / Step;
        if (own <= MinContext || !fits(At(MinContext))) return null;
        int lo = 0, hi = steps;
        while (lo < hi)
        {
            var mid = (lo + hi + 1) / 2;
            if (fits(At(MinContext + mid * Step))) lo = mid; else hi = mid - 1;
        }
        return At(MinContext + lo * Step);
    }

    /// <summary>Whether <paramref name="standIn"/> is <paramref name="gridPoint"/> with a shorter decode context, as <see cref="StandIn"/> makes them (a raw log holds no other points beside its grid's).</summary>
    public static bool IsStandInOf(CalibrationPoint standIn, CalibrationPoint gridPoint) => gridPoint.Phase switch
    {
        Phase.Decode => standIn with { ContextTokens = gridPoint.ContextTokens } == gridPoint && standIn.ContextTokens < gridPoint.ContextTokens,
        Phase.Mixed => standIn with { DecodeContext = gridPoint.DecodeContext } == gridPoint && standIn.DecodeContext < gridPoint.DecodeContext,
        _ => false,
    };
}
