using Joules.Profiles;
using Joules.Simulation;

namespace Joules.Runs;

/// <summary>
/// Chooses the width of the power timeline's bins so power.parquet stays near <see cref="TargetRows"/> rows
/// however long the run, and refuses a requested width that would exceed <see cref="MaxRows"/>.
/// </summary>
public static class PowerBins
{
    /// <summary>Rows the default width aims to stay under (one row per instance and bin).</summary>
    public const long TargetRows = 1_000_000;

    /// <summary>Rows a width the user asked for may produce before it is refused.</summary>
    public const long MaxRows = 20_000_000;

    private static readonly double[] s_nice = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 86400];

    /// <summary>Estimated simulated span: the trace's arrival span online; offline, the backlog's tokens over the instances' decode throughput at full batch.</summary>
    public static double EstimateSpan(TraceInput trace, ClusterConfig cluster, ICostModel cost)
    {
        if (cluster.Mode == ArrivalMode.Online) return trace.SpanSeconds + 60;
        var b = Math.Max(1, Math.Min(cluster.Engine.MaxNumSeqs, 256));
        var step = cost.Estimate(IterationShape.Decode(b, 1024)).Seconds;
        var tokensPerSecond = b / Math.Max(step, 1e-6) * cluster.Instances;
        return trace.TotalTokens / tokensPerSecond + 60;
    }

    /// <summary>The bin width to use: the requested one (checked) or the smallest round width keeping rows under the target.</summary>
    public static double Choose(double? requested, double spanSeconds, int instances, out long estimatedRows)
    {
        if (requested is { } r)
        {
            estimatedRows = Rows(spanSeconds, instances, r);
            if (estimatedRows > MaxRows)
                throw new ArgumentException(
                    $"--power-bin {r} s would write about {estimatedRows:N0} power rows ({instances} instances x {spanSeconds:N0} s); the limit is {MaxRows:N0}: use a width of at least {Math.Ceiling(spanSeconds * instances / MaxRows)} s, or leave --power-bin out to choose one");
            return r;
        }
        foreach (var w in s_nice)
        {
            estimatedRows = Rows(spanSeconds, instances, w);
            if (estimatedRows <= TargetRows) return w;
        }
        var width = Math.Ceiling(spanSeconds * instances / TargetRows);
        estimatedRows = Rows(spanSeconds, instances, width);
        return width;
    }

    private static long Rows(double span, int instances, double width) => (long)Math.Ceiling(span / width) * instances;
}
