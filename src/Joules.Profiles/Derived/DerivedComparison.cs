using System.Globalization;
using System.Text;
using Joules.Profiles.Measured;

namespace Joules.Profiles.Derived;

/// <summary>A measurement on the target GPU to hold a derived profile against: an iteration shape, its seconds and, where measured, whole-instance joules per token.</summary>
public sealed record ReferencePoint(string Label, IterationShape Shape, double Seconds, double? JoulesPerToken, string Source)
{
    /// <summary>The timed shapes of an engine-bench file as references (time only).</summary>
    public static IEnumerable<ReferencePoint> From(EngineBenchFile bench) =>
        bench.Results.Select(r => new ReferencePoint(r.Label, r.Shape, r.MedianSeconds, null, bench.Path));
}

/// <summary>One row of the error table: a quantity measured on the target, what the derived profile's cost model says, how that estimate was made, and (when given) what the measured source profile says for the same shape on its own GPU.</summary>
public sealed record ComparisonRow(string Label, string Quantity, double Measured, double Derived, string Method, string Source, double? SourceProfile = null)
{
    /// <summary>Signed relative error of the derived figure.</summary>
    public double Error => (Derived - Measured) / Measured;
}

/// <summary>Compares a derived profile's cost model with measurements taken on the target GPU.</summary>
public static class DerivedComparison
{
    public const string Time = "time (ms)";
    public const string EnergyPerToken = "energy (J/token)";

    /// <summary>A time row for every reference, and an energy row where the reference measured energy.</summary>
    /// <param name="model">The derived profile's cost model.</param>
    /// <param name="references">Measurements on the target GPU.</param>
    /// <param name="source">The measured profile it was derived from, to show beside each row what the source GPU takes.</param>
    public static IReadOnlyList<ComparisonRow> Compare(ProfileCostModel model, IEnumerable<ReferencePoint> references, ProfileCostModel? source = null)
    {
        var rows = new List<ComparisonRow>();
        foreach (var r in references)
        {
            var (seconds, joules, pricing) = model.EstimatePerGpu(r.Shape);
            (double S, double J, PricingClass)? src = source?.EstimatePerGpu(r.Shape);
            var how = pricing.Label();
            rows.Add(new ComparisonRow(r.Label, Time, r.Seconds * 1e3, seconds * 1e3, how, r.Source, src?.S * 1e3));
            if (r.JoulesPerToken is { } jpt)
                rows.Add(new ComparisonRow(r.Label, EnergyPerToken, jpt, joules * model.TensorParallel / r.Shape.TotalTokens, how, r.Source,
                    src?.J * source!.TensorParallel / r.Shape.TotalTokens));
        }
        return rows;
    }

    /// <summary>The rows as a Markdown table (measured, derived, error), the form the README publishes.</summary>
    public static string ToMarkdown(IEnumerable<ComparisonRow> rows)
    {
        var inv = CultureInfo.InvariantCulture;
        var list = rows.ToList();
        var withSource = list.Any(r => r.SourceProfile is not null);
        var sb = new StringBuilder();
        sb.AppendLine(withSource ? "| shape | quantity | source profile | measured | derived | error | derived by |" : "| shape | quantity | measured | derived | error | derived by |");
        sb.AppendLine(withSource ? "|---|---|---:|---:|---:|---:|---|" : "|---|---|---:|---:|---:|---|");
        foreach (var r in list)
        {
            var fmt = r.Quantity == EnergyPerToken ? "0.0000" : "0.00";
            var src = withSource ? $" {(r.SourceProfile is { } v ? v.ToString(fmt, inv) : "")} |" : "";
            sb.Append(inv, $"| {r.Label} | {r.Quantity} |{src} {r.Measured.ToString(fmt, inv)} | {r.Derived.ToString(fmt, inv)} | {r.Error.ToString("+0.0%;-0.0%", inv)} | {r.Method} |").AppendLine();
        }
        return sb.ToString();
    }
}
