using Joules.Output;
using Joules.Planning;

namespace Joules.Reports;

/// <summary>The report of a plan (placeholder until the chart report lands).</summary>
public static class PlanReport
{
    public static void Write(string path, PlanResults results, CancellationToken cancel = default) =>
        AtomicFile.WriteAllText(path, "<!doctype html><html><body><pre>" + System.Net.WebUtility.HtmlEncode(results.PlanId) + "</pre></body></html>", cancel);
}
