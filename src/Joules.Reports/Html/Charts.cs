using Plotly.NET;
using PChart = Plotly.NET.CSharp.Chart;
using Plotly.NET.CSharp;

namespace Joules.Reports.Html;

/// <summary>One named series of (x, y) points.</summary>
public sealed record Series(string Name, IReadOnlyList<double> X, IReadOnlyList<double> Y, IReadOnlyList<string>? Labels = null);

/// <summary>The report's chart types, built with Plotly.NET with the same size, axis titles (with units) and legend everywhere.</summary>
public static class Charts
{
    public const int Width = 960;
    public const int Height = 420;

    /// <summary>Lines on shared axes, one per series.</summary>
    public static GenericChart Lines(IReadOnlyList<Series> series, string xTitle, string yTitle, bool logX = false, bool stepped = false)
    {
        var charts = series.Select(s => PChart.Line<double, double, string>(x: s.X, y: s.Y, Name: s.Name, ShowLegend: true)).ToArray();
        return Style(PChart.Combine(charts), xTitle, yTitle, logX);
    }

    /// <summary>Markers, one trace per series, each point labelled for hovering.</summary>
    public static GenericChart Points(IReadOnlyList<Series> series, string xTitle, string yTitle, bool logX = false)
    {
        var charts = series.Select(s => s.Labels is { } l
            ? PChart.Scatter<double, double, string>(x: s.X, y: s.Y, mode: StyleParam.Mode.Markers, Name: s.Name, ShowLegend: true, MultiText: l.ToArray())
            : PChart.Scatter<double, double, string>(x: s.X, y: s.Y, mode: StyleParam.Mode.Markers, Name: s.Name, ShowLegend: true)).ToArray();
        return Style(PChart.Combine(charts), xTitle, yTitle, logX);
    }

    /// <summary>Stacked columns: one column per category, one stacked part per series (values in category order).</summary>
    public static GenericChart StackedColumns(IReadOnlyList<string> categories, IReadOnlyList<(string Name, IReadOnlyList<double> Values)> parts, string yTitle)
    {
        var charts = parts.Select(p => PChart.StackedColumn<double, string, string>(values: p.Values, Keys: categories.ToArray(), Name: p.Name, ShowLegend: true)).ToArray();
        return Style(PChart.Combine(charts), "scenario", yTitle, StyleParam.AxisType.Category);
    }

    /// <summary>Columns: one per category.</summary>
    public static GenericChart Columns(IReadOnlyList<string> categories, IReadOnlyList<double> values, string name, string yTitle) =>
        Style(PChart.Column<double, string, string>(values: values, Keys: categories.ToArray(), Name: name, ShowLegend: true), "scenario", yTitle, StyleParam.AxisType.Category);

    private static GenericChart Style(GenericChart chart, string xTitle, string yTitle, bool logX) =>
        Style(chart, xTitle, yTitle, logX ? StyleParam.AxisType.Log : StyleParam.AxisType.Linear);

    private static GenericChart Style(GenericChart chart, string xTitle, string yTitle, StyleParam.AxisType xType) =>
        chart.WithXAxisStyle<double, double, string>(TitleText: xTitle, AxisType: xType)
             .WithYAxisStyle<double, double, string>(TitleText: yTitle)
             .WithSize(Width, Height);

    /// <summary>The chart's HTML: a div and the script that draws it (plotly.js itself is embedded once per document).</summary>
    public static string ToHtml(GenericChart chart) => GenericChart.toChartHTML(chart);

    /// <summary>plotly.js as Plotly.NET ships it (an embedded resource of its assembly), so a report needs no network.</summary>
    public static string PlotlyJs()
    {
        var asm = typeof(GenericChart).Assembly;
        var name = asm.GetManifestResourceNames().FirstOrDefault(n => n.EndsWith(".min.js", StringComparison.Ordinal) && n.Contains("plotly", StringComparison.Ordinal))
            ?? throw new InvalidOperationException("Plotly.NET does not carry plotly.js as a resource");
        using var s = asm.GetManifestResourceStream(name)!;
        using var r = new StreamReader(s);
        return r.ReadToEnd();
    }

    /// <summary>The version of plotly.js embedded (from the resource name).</summary>
    public static string PlotlyJsVersion =>
        typeof(GenericChart).Assembly.GetManifestResourceNames().FirstOrDefault(n => n.EndsWith(".min.js", StringComparison.Ordinal))?.Replace("Plotly.NET.plotly-", "").Replace(".min.js", "") ?? "?";
}
