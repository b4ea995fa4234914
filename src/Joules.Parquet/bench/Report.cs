using System.Globalization;

namespace Joules.Parquet.Bench;

/// <summary>The side-by-side table: per data set, codec and operation, each library's median rows/s and memory, and ours as a ratio of ParquetSharp.</summary>
public static class Report
{
    public static void Print(TextWriter o, IReadOnlyList<MeasureResult> results, IReadOnlyList<(string Dataset, string Codec, string Writer)> configs)
    {
        var inv = CultureInfo.InvariantCulture;
        o.WriteLine();
        o.WriteLine("| data set | codec | op | joules rows/s | parquetsharp rows/s | ratio | ratio (CPU time) | joules file | parquetsharp file | joules above arrays | parquetsharp above arrays | cold pass (j / ps) |");
        o.WriteLine("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var (dataset, codec, writer) in configs)
        foreach (var op in results.Select(r => r.Op).Distinct())
        {
            var ours = results.Where(r => r.Dataset == dataset && r.Codec == codec && r.Op == op && r.Library == "joules").ToList();
            var theirs = results.Where(r => r.Dataset == dataset && r.Codec == codec && r.Op == op && r.Library == "parquetsharp").ToList();
            if (ours.Count == 0 || theirs.Count == 0) continue;
            if (ours.Concat(theirs).Select(r => r.Checksum).Distinct().Count() != 1)
                throw new InvalidOperationException($"{dataset}/{codec} {op}: the libraries disagree on the data (checksums {string.Join(", ", ours.Concat(theirs).Select(r => r.Checksum).Distinct())})");
            // The best pass of all processes: on a shared machine the fastest pass is the one least slowed by other work.
            double oRate = ours.Max(r => r.Rows / r.BestSeconds), tRate = theirs.Max(r => r.Rows / r.BestSeconds);
            double oCpu = ours.Max(r => r.Rows / r.BestCpuSeconds), tCpu = theirs.Max(r => r.Rows / r.BestCpuSeconds);
            string label = op == "read" ? $"{dataset} (written by {writer})" : dataset;
            o.WriteLine(string.Create(inv, $"| {label} | {codec} | {op} | {oRate / 1e6:0.00} M | {tRate / 1e6:0.00} M | {oRate / tRate:0.00}x | {oCpu / tCpu:0.00}x | " +
                $"{MiB(ours[0].FileBytes)} | {MiB(theirs[0].FileBytes)} | {MiB(Median(ours.Select(r => (double)r.OverheadBytes)))} | {MiB(Median(theirs.Select(r => (double)r.OverheadBytes)))} | " +
                $"{Median(ours.Select(r => r.ColdSeconds)):0.00} / {Median(theirs.Select(r => r.ColdSeconds)):0.00} s |"));
        }
        var any = results.FirstOrDefault();
        if (any != null)
            o.WriteLine(string.Create(inv, $"\nrows/s: the best warm pass over all processes (wall clock; on a shared machine the least disturbed one); ratio (CPU time): the same with the process's CPU seconds per pass; above arrays: peak resident set (VmHWM, restarted after the caller's arrays were filled{(results.All(r => r.PeakReset) ? "" : "; NOT restarted on this kernel")}) minus the resident set then, minus what the decoded data added (distinct strings, list values, counted from the data); median over processes."));
    }

    private static double Median(IEnumerable<double> xs)
    {
        var a = xs.OrderBy(x => x).ToArray();
        return a.Length % 2 == 1 ? a[a.Length / 2] : (a[a.Length / 2 - 1] + a[a.Length / 2]) / 2;
    }

    private static string MiB(double bytes) => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1048576.0:0} MiB");
}
