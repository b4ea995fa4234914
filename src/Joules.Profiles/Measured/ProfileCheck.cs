using System.Globalization;
using System.Text;

namespace Joules.Profiles.Measured;

/// <summary>One measured point of a check profile and what the reference profile predicts for it (one GPU).</summary>
public sealed record ProfileCheckPoint(ProfilePoint Point, double PredictedSeconds, double PredictedJoules, PricingClass Pricing)
{
    public double TimeError => (PredictedSeconds - Point.IterationSeconds) / Point.IterationSeconds;
    public double EnergyError => (PredictedJoules - Point.EnergyJoules) / Point.EnergyJoules;
}

/// <summary>
/// How well one profile (say the shipped one) predicts points measured elsewhere (the same grid on a second card, a
/// different driver, a re-run): per point time and energy errors, their median and worst, and idle power on both.
/// </summary>
public sealed record ProfileCheck(string Reference, string ReferenceUuid, string Checked, string CheckedUuid,
    double ReferenceIdleWatts, double CheckedIdleWatts, IReadOnlyList<ProfileCheckPoint> Points)
{
    /// <summary>Engine entries (metadata <c>engine.*</c>) the two profiles record differently, as "key: reference vs checked"; a difference means the errors measure the engines as well as the cards.</summary>
    public IReadOnlyList<string> EngineDifferences { get; init; } = [];
    /// <summary>Set when the profiles come from different tool versions and one of them does not record its engine, so whether the engines differ cannot be told: "reference version vs checked version".</summary>
    public string? EngineUnknown { get; init; }

    public double MedianTimeError => CrossValidationReport.Median(Points.Select(p => Math.Abs(p.TimeError)));
    public double WorstTimeError => Points.Count == 0 ? double.NaN : Points.Max(p => Math.Abs(p.TimeError));
    public double MedianEnergyError => CrossValidationReport.Median(Points.Select(p => Math.Abs(p.EnergyError)));
    public double WorstEnergyError => Points.Count == 0 ? double.NaN : Points.Max(p => Math.Abs(p.EnergyError));
    /// <summary>Mean signed energy error: a card that draws more (or less) power than the reference's shows here.</summary>
    public double MeanEnergyBias => Points.Count == 0 ? double.NaN : Points.Average(p => p.EnergyError);
    public double MeanTimeBias => Points.Count == 0 ? double.NaN : Points.Average(p => p.TimeError);

    /// <summary>Predicts every non-idle point of <paramref name="checkedProfile"/> with <paramref name="reference"/>; both must be of one model and tp.</summary>
    public static ProfileCheck Run(ProfileCostModel reference, MeasuredProfile checkedProfile, string referenceName, string checkedName)
    {
        var rm = reference.Profile.Metadata;
        var cm = checkedProfile.Metadata;
        if (!string.Equals(rm.Model.Name, cm.Model.Name, StringComparison.OrdinalIgnoreCase) || Math.Max(1, rm.TensorParallel) != Math.Max(1, cm.TensorParallel))
            throw new ArgumentException($"{checkedName} measured {cm.Model.Name} at tp {cm.TensorParallel}, but {referenceName} is {rm.Model.Name} at tp {rm.TensorParallel}");
        var points = checkedProfile.Points
            .Where(p => p.Phase != ProfilePhase.Idle && p.IterationSeconds > 0 && p.EnergyJoules > 0 && p.SmClockTarget == reference.SmClockTarget)
            .Select(p =>
            {
                var (t, e, pricing) = reference.EstimatePerGpu(p.Shape);
                return new ProfileCheckPoint(p, t, e, pricing);
            })
            .ToArray();
        return new ProfileCheck(referenceName, rm.GpuUuid, checkedName, cm.GpuUuid, reference.Profile.IdlePowerWatts, checkedProfile.IdlePowerWatts, points)
        {
            EngineDifferences = EngineDiff(rm.Extra, cm.Extra),
            EngineUnknown = rm.ToolVersion != cm.ToolVersion && (!HasEngine(rm.Extra) || !HasEngine(cm.Extra))
                ? $"{(rm.ToolVersion.Length > 0 ? rm.ToolVersion : "?")} vs {(cm.ToolVersion.Length > 0 ? cm.ToolVersion : "?")}" : null,
        };
    }

    private static bool HasEngine(IReadOnlyDictionary<string, string> extra) => ProfileMetadata.EngineEntries(extra).Count > 0;

    /// <summary>Engine entries recorded by both profiles with different values (an entry only one records is not a known difference).</summary>
    internal static IReadOnlyList<string> EngineDiff(IReadOnlyDictionary<string, string> reference, IReadOnlyDictionary<string, string> other) =>
        ProfileMetadata.EngineEntries(reference).Where(kv => other.TryGetValue(kv.Key, out var v) && v != kv.Value)
            .Select(kv => $"{kv.Key[ProfileMetadata.EngineKeyPrefix.Length..].Replace('_', ' ')}: {kv.Value} vs {other[kv.Key]}")
            .ToArray();

    /// <summary>The check as a markdown table plus its summary lines.</summary>
    public string ToMarkdown()
    {
        var c = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.AppendLine($"Reference {Reference} (card `{ReferenceUuid}`) predicting {Checked} (card `{CheckedUuid}`).");
        sb.AppendLine();
        if (EngineDifferences.Count > 0)
        {
            sb.AppendLine("**Measured by different engines**: the errors below are the engines' difference as well as the cards'.");
            foreach (var d in EngineDifferences) sb.AppendLine($"- {d}");
            sb.AppendLine();
        }
        else if (EngineUnknown is { } versions)
        {
            sb.AppendLine($"**Engines not comparable**: tool versions {versions}, and one profile does not record which kernels measured it; part of the errors below may be the engines' difference.");
            sb.AppendLine();
        }
        sb.AppendLine("| point | measured ms | predicted ms | time error | measured J | predicted J | energy error | priced |");
        sb.AppendLine("|---|---:|---:|---:|---:|---:|---:|---|");
        foreach (var p in Points)
            sb.AppendLine(string.Create(c, $"| {p.Point} | {p.Point.IterationSeconds * 1e3:0.00} | {p.PredictedSeconds * 1e3:0.00} | {p.TimeError:+0.0%;-0.0%} | {p.Point.EnergyJoules:0.000} | {p.PredictedJoules:0.000} | {p.EnergyError:+0.0%;-0.0%} | {p.Pricing.Label()} |"));
        sb.AppendLine();
        sb.AppendLine(string.Create(c, $"time error: median {MedianTimeError:0.0%}, worst {WorstTimeError:0.0%}, mean {MeanTimeBias:+0.0%;-0.0%}; energy error: median {MedianEnergyError:0.0%}, worst {WorstEnergyError:0.0%}, mean {MeanEnergyBias:+0.0%;-0.0%}; idle power {ReferenceIdleWatts:0.0} W (reference) vs {CheckedIdleWatts:0.0} W."));
        return sb.ToString();
    }
}
