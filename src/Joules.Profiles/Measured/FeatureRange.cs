namespace Joules.Profiles.Measured;

/// <summary>
/// The range of shapes a profile measured: the most prefill sequences, prefill tokens and cached context per
/// sequence, decode sequences and decode context per sequence, and tokens per iteration of any measured
/// point. A shape beyond any of them is priced by extrapolation.
/// </summary>
public sealed record FeatureRange(
    int MaxPrefillSequences,
    double MaxPrefillTokensPerSequence,
    double MaxPrefillContextPerSequence,
    int MaxDecodeSequences,
    double MaxDecodeContextPerSequence,
    long MaxTotalTokens)
{
    /// <summary>The range spanned by <paramref name="points"/>.</summary>
    public static FeatureRange Of(IEnumerable<ProfilePoint> points)
    {
        int ps = 0, ds = 0;
        double ptps = 0, pcps = 0, dcps = 0;
        long total = 0;
        foreach (var p in points)
        {
            var s = p.Shape;
            if (s.PrefillSequences > 0)
            {
                ps = Math.Max(ps, s.PrefillSequences);
                ptps = Math.Max(ptps, (double)s.PrefillTokens / s.PrefillSequences);
                pcps = Math.Max(pcps, (double)s.PrefillContextTokens / s.PrefillSequences);
            }
            if (s.DecodeSequences > 0)
            {
                ds = Math.Max(ds, s.DecodeSequences);
                dcps = Math.Max(dcps, (double)s.DecodeContextTokens / s.DecodeSequences);
            }
            total = Math.Max(total, s.TotalTokens);
        }
        return new FeatureRange(ps, ptps, pcps, ds, dcps, total);
    }

    /// <summary>Whether the shape has more tokens, sequences or context than any measured point of its kind.</summary>
    public bool Exceeds(in IterationShape s) =>
        s.TotalTokens > MaxTotalTokens
        || s.PrefillSequences > MaxPrefillSequences
        || s.PrefillTokens > MaxPrefillTokensPerSequence * s.PrefillSequences
        || s.PrefillContextTokens > MaxPrefillContextPerSequence * s.PrefillSequences
        || s.DecodeSequences > MaxDecodeSequences
        || s.DecodeContextTokens > MaxDecodeContextPerSequence * s.DecodeSequences;
}
