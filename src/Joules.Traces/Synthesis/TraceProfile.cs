using System.Globalization;
using Joules.Traces.Stats;

namespace Joules.Traces.Synthesis;

/// <summary>What `synth --like` takes from a real trace: its start, mean rate, inter-arrival burstiness and token lengths.</summary>
public sealed record TraceProfile(string Source, long Requests, long StartMicros, double DurationSeconds, double Rate, double InterarrivalCv, TraceStats Stats, IReadOnlyList<TraceRequest> Trace)
{
    /// <summary>Fits a profile to an arrival-sorted trace held in memory.</summary>
    public static TraceProfile Fit(string source, IReadOnlyList<TraceRequest> trace)
    {
        if (trace.Count < 2) throw new ArgumentException($"{source}: need at least 2 requests to fit a rate");
        var stats = TraceStatistics.Compute(trace);
        if (!(stats.DurationSeconds > 0)) throw new ArgumentException($"{source}: all requests arrive at the same instant; cannot fit a rate");
        return new TraceProfile(source, stats.Requests, stats.FirstArrivalMicros, stats.DurationSeconds,
            stats.Requests / stats.DurationSeconds, stats.InterarrivalCv ?? 1, stats, trace);
    }

    /// <summary>Length model fitted to the trace: "resample" (joint empirical pairs) or "lognormal".</summary>
    public LengthModel Lengths(string kind) => kind.ToLowerInvariant() switch
    {
        "resample" or "empirical" => ResampledLengths.From(Trace),
        "lognormal" or "fit" => LogNormalLengths.Fit(Trace),
        _ => throw new ArgumentException($"unknown length model '{kind}' (resample | lognormal)"),
    };

    public string Describe() => string.Create(CultureInfo.InvariantCulture,
        $"{Source}: {Requests:N0} requests over {DurationSeconds:F0} s, mean {Rate:F3} req/s, inter-arrival CV {InterarrivalCv:F3}, " +
        $"input mean {Stats.InputTokens.Mean:F1} p50 {Stats.InputTokens.P50} p99 {Stats.InputTokens.P99}, " +
        $"output mean {Stats.OutputTokens.Mean:F1} p50 {Stats.OutputTokens.P50} p99 {Stats.OutputTokens.P99}");
}
