using System.Globalization;
using System.Net;
using System.Text;
using Plotly.NET;

namespace Joules.Reports.Html;

/// <summary>A figure of a report: a stable key (its section id), a title, a caption, the chart, and its numbers as a table.</summary>
public sealed record Figure(string Key, string Title, string Caption, GenericChart Chart, IReadOnlyList<string> Series, int Points, string Units, string? DataTable = null);

/// <summary>
/// A self-contained HTML report: provenance, headline figures, sections, numbered figures (Plotly.NET charts, with
/// plotly.js embedded once, so the file needs no network) and a table of every figure.
/// </summary>
public sealed class ReportDocument(string title)
{
    private readonly StringBuilder _body = new();
    private readonly List<Figure> _figures = [];

    public static string Encode(string s) => WebUtility.HtmlEncode(s);

    /// <summary>A "where this comes from" table.</summary>
    public void Provenance(IEnumerable<(string Key, string Value)> rows)
    {
        _body.Append("<section id=\"provenance\"><h2>Provenance</h2><table class=\"kv\">");
        foreach (var (k, v) in rows) _body.Append("<tr><th>").Append(Encode(k)).Append("</th><td>").Append(Encode(v)).Append("</td></tr>");
        _body.Append("</table></section>");
    }

    /// <summary>Headline figures as cards.</summary>
    public void Kpis(string heading, IEnumerable<(string Label, string Value, string Note)> cards)
    {
        _body.Append("<section id=\"kpis\"><h2>").Append(Encode(heading)).Append("</h2><div class=\"cards\">");
        foreach (var (l, v, n) in cards)
            _body.Append("<div class=\"card\"><div class=\"v\">").Append(Encode(v)).Append("</div><div class=\"l\">").Append(Encode(l)).Append("</div><div class=\"n\">").Append(Encode(n)).Append("</div></div>");
        _body.Append("</div></section>");
    }

    public void Heading(string id, string text) => _body.Append("<h2 id=\"").Append(Encode(id)).Append("\">").Append(Encode(text)).Append("</h2>");

    public void Paragraph(string text) => _body.Append("<p>").Append(Encode(text)).Append("</p>");

    /// <summary>A table: a header row and rows of cells (first column left-aligned).</summary>
    public void Table(string id, IReadOnlyList<string> header, IEnumerable<IReadOnlyList<string>> rows) => _body.Append(TableHtml(id, header, rows));

    public static string TableHtml(string id, IReadOnlyList<string> header, IEnumerable<IReadOnlyList<string>> rows)
    {
        var sb = new StringBuilder();
        sb.Append("<table id=\"").Append(Encode(id)).Append("\"><tr>");
        foreach (var h in header) sb.Append("<th>").Append(Encode(h)).Append("</th>");
        sb.Append("</tr>");
        foreach (var r in rows)
        {
            sb.Append("<tr>");
            foreach (var c in r) sb.Append("<td>").Append(Encode(c)).Append("</td>");
            sb.Append("</tr>");
        }
        return sb.Append("</table>").ToString();
    }

    public void Figure(Figure f)
    {
        _figures.Add(f);
        var n = _figures.Count;
        _body.Append("<section class=\"figure\" id=\"fig-").Append(Encode(f.Key)).Append("\" data-figure=\"").Append(Encode(f.Key)).Append("\">")
             .Append("<h3>Figure ").Append(n).Append(". ").Append(Encode(f.Title)).Append("</h3><p class=\"caption\">").Append(Encode(f.Caption)).Append("</p>")
             .Append(Charts.ToHtml(f.Chart));
        if (f.DataTable != null) _body.Append("<details><summary>numbers</summary>").Append(f.DataTable).Append("</details>");
        _body.Append("</section>");
    }

    public string Render(string footer)
    {
        var c = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.Append("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>").Append(Encode(title)).Append("</title><style>")
          .Append("body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1000px;color:#222;padding:0 1em}h1{margin-bottom:.2em}h2{margin-top:2em;border-bottom:1px solid #ddd}")
          .Append("table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right;font-variant-numeric:tabular-nums}")
          .Append("th:first-child,td:first-child{text-align:left;white-space:nowrap}#figure-index td{text-align:left}table.kv th{text-align:left;background:#f6f6f6}table.kv td{text-align:left}")
          .Append(".cards{display:flex;flex-wrap:wrap;gap:.8em}.card{border:1px solid #ddd;border-radius:6px;padding:.6em 1em;min-width:9em}")
          .Append(".card .v{font-size:1.5em;font-weight:600}.card .l{color:#444}.card .n{color:#888;font-size:.85em}.caption{color:#555}")
          .Append("section.figure{margin:1.5em 0}</style><script>").Append(Charts.PlotlyJs()).Append("</script></head><body><h1>").Append(Encode(title)).Append("</h1>");
        // The table of every figure comes first, so a reader sees what the report holds.
        sb.Append("<section id=\"figures\"><h2>Figures</h2>");
        sb.Append(TableHtml("figure-index", ["figure", "title", "series", "points", "units"],
            _figures.Select((f, i) => (IReadOnlyList<string>)[$"Figure {i + 1}", f.Title, string.Join(", ", f.Series), f.Points.ToString("N0", c), f.Units])));
        sb.Append("</section>").Append(_body).Append("<footer><p>").Append(Encode(footer)).Append("</p></footer></body></html>");
        return sb.ToString();
    }
}
