using System.Globalization;

namespace Joules.Replay;

/// <summary>One sample of a Prometheus text exposition: name, labels, value.</summary>
public sealed record PrometheusSample(string Name, IReadOnlyDictionary<string, string> Labels, double Value);

/// <summary>Reads the Prometheus text format (what /metrics of vLLM, SGLang, TGI and `joules serve` answer): every sample line; comments skipped.</summary>
public static class PrometheusText
{
    public static List<PrometheusSample> Parse(string text)
    {
        var list = new List<PrometheusSample>();
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line[0] == '#') continue;
            var labels = new Dictionary<string, string>(StringComparer.Ordinal);
            int i = 0;
            while (i < line.Length && line[i] != '{' && line[i] != ' ') i++;
            var name = line[..i];
            if (i < line.Length && line[i] == '{')
            {
                i++;
                while (i < line.Length && line[i] != '}')
                {
                    var eq = line.IndexOf('=', i);
                    if (eq < 0) break;
                    var key = line[i..eq].Trim().TrimStart(',').Trim();
                    var q = eq + 1;
                    if (q >= line.Length || line[q] != '"') break;
                    var sb = new System.Text.StringBuilder();
                    q++;
                    while (q < line.Length && line[q] != '"')
                    {
                        if (line[q] == '\\' && q + 1 < line.Length) { q++; sb.Append(line[q] == 'n' ? '\n' : line[q]); }
                        else sb.Append(line[q]);
                        q++;
                    }
                    labels[key] = sb.ToString();
                    i = q + 1;
                    while (i < line.Length && (line[i] == ',' || line[i] == ' ')) i++;
                }
                i++;
            }
            var rest = line[Math.Min(i, line.Length)..].Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (rest.Length == 0) continue;
            var v = rest[0] switch { "+Inf" => double.PositiveInfinity, "-Inf" => double.NegativeInfinity, "NaN" => double.NaN, var s => Number(s) };
            if (v is null) continue;
            list.Add(new PrometheusSample(name, labels, v.Value));
        }
        return list;
    }

    private static double? Number(string s) => double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v : null;

    /// <summary>The sum of every sample named <paramref name="name"/> (over its label sets), or null when there is none.</summary>
    public static double? Sum(IEnumerable<PrometheusSample> samples, string name)
    {
        double sum = 0;
        var any = false;
        foreach (var s in samples)
            if (s.Name == name) { sum += s.Value; any = true; }
        return any ? sum : null;
    }

    /// <summary>The labels of the first sample named <paramref name="name"/> (info metrics carry their facts in labels).</summary>
    public static IReadOnlyDictionary<string, string>? Labels(IEnumerable<PrometheusSample> samples, string name) =>
        samples.FirstOrDefault(s => s.Name == name)?.Labels;
}
