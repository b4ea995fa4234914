using System.CommandLine;
using Joules.Progress;
using Joules.Traces;
using Joules.Traces.Canonical;
using Joules.Traces.Import;
using Joules.Traces.Transform;

namespace Joules.Cli.Commands;

/// <summary>`joules trace slice|sample|scale|tile|merge`: streaming transformations that read any supported trace and write a canonical one, atomically.</summary>
internal static class TraceTransformCommands
{
    public static IEnumerable<Command> Create() => [Slice(), Sample(), Scale(), Tile(), Merge()];

    private const string OutputHelp = "Canonical trace to write (.parquet or .csv); written to a temporary file and renamed into place when complete, so it may be the source itself";

    /// <summary>What a transformation produces from its opened sources: the rows, and how many input rows the progress bar counts to.</summary>
    private delegate (IEnumerable<TraceRequest> Rows, long InputRows) Build(IReadOnlyList<TraceSource> sources, ProgressReporter progress, CancellationToken cancel);

    /// <summary>Opens the sources, writes the transformed rows through an atomic canonical writer, prints the sources' warnings and one closing line. Returns the rows written.</summary>
    private static long Run(ParseResult p, CancellationToken cancel, string verb, IReadOnlyList<string> inputs, string outPath, bool renumber, Build build)
    {
        CanonicalTraceWriter.CheckPath(outPath);
        var options = new TraceImportOptions { Renumber = renumber };
        var (written, sources) = TraceRun.Writing(p, outPath, cancel, progress =>
        {
            var sources = inputs.Select(i => TraceSource.Open(i, options, progress, cancel)).ToList();
            var (rows, inputRows) = build(sources, progress, cancel);
            var columns = sources.Aggregate(OptionalColumns.None, (c, s) => c | s.Columns);
            progress.Begin($"{verb} {string.Join(", ", inputs.Select(Path.GetFileName))}", inputRows);
            using var w = CanonicalTraceWriter.Create(outPath, TraceCommands.Provenance(p), columns, cancel);
            foreach (var r in rows) w.Write(r);
            progress.Begin($"writing {Path.GetFileName(outPath)}", null);
            w.Complete();
            progress.End();
            return (w.Count, sources);
        });
        foreach (var s in sources) TraceRun.PrintReport(p, s.Report.Lines().Where(l => l.StartsWith("warning:", StringComparison.Ordinal)));
        p.InvocationConfiguration.Output.WriteLine($"wrote {written:N0} requests to {outPath}");
        return written;
    }

    private static Command Slice()
    {
        var src = TraceCommands.SourceArgument();
        var output = TraceCommands.OutputOption(OutputHelp);
        var from = new Option<string?>("--from") { Description = "Start (inclusive): an offset from the trace's first arrival such as 10m, 2h, 1d, or an absolute date-time; default the start" };
        var to = new Option<string?>("--to") { Description = "End (exclusive): an offset from the first arrival or an absolute date-time; default the end. Slices [a,b) and [b,c) partition [a,c)" };
        var rebase = new Option<bool>("--rebase") { Description = "Shift arrivals so the slice starts at the original trace's first arrival" };
        var renumber = TraceCommands.RenumberOption();
        var cmd = new Command("slice", "Keep the requests that arrive in a time window [from, to). A window with no request writes an empty trace and warns.");
        cmd.Arguments.Add(src);
        foreach (var o in new Option[] { output, from, to, rebase, renumber }) cmd.Options.Add(o);
        cmd.SetAction((p, cancel) =>
        {
            long first = 0, last = 0, a = 0, b = 0;
            var n = Run(p, cancel, "slicing", [p.GetValue(src)!.FullName], p.GetValue(output)!.FullName, p.GetValue(renumber), (sources, progress, ct) =>
            {
                var source = sources[0];
                first = source.Read(ct).First().ArrivalMicros;
                long At(string? text, long dflt, string option) => text is null ? dflt
                    : TraceDuration.TryParseSeconds(text, out var s) ? first + (long)Math.Round(s * 1e6)
                    : TraceCommands.ParseTime(text, option);
                a = At(p.GetValue(from), long.MinValue, "--from");
                b = At(p.GetValue(to), long.MaxValue, "--to");
                if (b < a) throw new ArgumentException($"--to ({p.GetValue(to)}) is before --from ({p.GetValue(from)})");
                var rows = progress.Track(source.Read(ct).Select(r => { last = r.ArrivalMicros; return r; }));
                return (TraceTransforms.Slice(rows, a, b, p.GetValue(rebase) ? first : null), source.Count);
            });
            if (n == 0)
                TraceRun.Warn(p, $"no request arrives in [{Bound(a, "start")}, {Bound(b, "end")}); the trace starts at {TraceCommands.Micros(first)}" +
                                 (last >= first ? $" and reaches at least {TraceCommands.Micros(last)}" : "") + "; wrote an empty trace");
            return Task.FromResult(0);
        });
        return cmd;
    }

    private static string Bound(long t, string open) => t is long.MinValue or long.MaxValue ? open : TraceCommands.Micros(t);

    private static Command Sample()
    {
        var src = TraceCommands.SourceArgument();
        var output = TraceCommands.OutputOption(OutputHelp);
        var fraction = CliOptions.Number("--fraction", "Probability of keeping each request, in [0, 1] (0.1 keeps about a tenth)", "a probability in [0, 1]", v => v is >= 0 and <= 1);
        fraction.Required = true;
        var seed = CliOptions.Whole("--seed", "Random seed; the same seed keeps the same requests", "a whole number", defaultValue: 1);
        var renumber = TraceCommands.RenumberOption();
        var cmd = new Command("sample", "Keep a random fraction of the requests (independently per request, reproducible for a seed); ids are kept.");
        cmd.Arguments.Add(src);
        foreach (var o in new Option[] { output, fraction, seed, renumber }) cmd.Options.Add(o);
        cmd.SetAction((p, cancel) =>
        {
            long count = 0;
            var n = Run(p, cancel, "sampling", [p.GetValue(src)!.FullName], p.GetValue(output)!.FullName, p.GetValue(renumber), (sources, progress, ct) =>
            {
                count = sources[0].Count;
                return (TraceTransforms.Sample(progress.Track(sources[0].Read(ct)), p.GetValue(fraction), p.GetValue(seed)), count);
            });
            if (n == 0) TraceRun.Warn(p, $"the sample kept none of the {count:N0} requests (--fraction {p.GetValue(fraction)}); wrote an empty trace");
            return Task.FromResult(0);
        });
        return cmd;
    }

    private static Command Scale()
    {
        var src = TraceCommands.SourceArgument();
        var output = TraceCommands.OutputOption(OutputHelp);
        var factor = CliOptions.Number("--factor", "Multiply the arrival rate by this: 2 halves every gap from the first arrival, 0.5 doubles them", "a positive factor (2 = twice the rate)", v => v > 0);
        factor.Required = true;
        var renumber = TraceCommands.RenumberOption();
        var cmd = new Command("scale", "Scale the arrival rate, keeping every request and its token counts.");
        cmd.Arguments.Add(src);
        foreach (var o in new Option[] { output, factor, renumber }) cmd.Options.Add(o);
        cmd.SetAction((p, cancel) =>
        {
            Run(p, cancel, "scaling", [p.GetValue(src)!.FullName], p.GetValue(output)!.FullName, p.GetValue(renumber), (sources, progress, ct) =>
                (TraceTransforms.ScaleRate(progress.Track(sources[0].Read(ct)), p.GetValue(factor)), sources[0].Count));
            return Task.FromResult(0);
        });
        return cmd;
    }

    private static Command Tile()
    {
        var src = TraceCommands.SourceArgument();
        var output = TraceCommands.OutputOption(OutputHelp);
        var copies = CliOptions.Whole("--copies", "How many copies back to back (each shifted by the trace's span plus one mean gap)", "a whole number of copies, at least 1", v => v >= 1, aliases: "-k");
        copies.Required = true;
        var cmd = new Command("tile", "Repeat a trace k times in time to make a longer one: k × requests, k × tokens; ids renumbered, sessions suffixed #copy.");
        cmd.Arguments.Add(src);
        cmd.Options.Add(output);
        cmd.Options.Add(copies);
        cmd.SetAction((p, cancel) =>
        {
            var k = p.GetValue(copies);
            // Ids are renumbered anyway, so the source's need not be unique. A canonical Parquet source is re-read for
            // each pass (k + 1: one to measure the span); other layouts are imported once and reused.
            Run(p, cancel, "tiling", [p.GetValue(src)!.FullName], p.GetValue(output)!.FullName, renumber: true, (sources, progress, ct) =>
                (TraceTransforms.Tile(() => progress.Track(sources[0].Read(ct)), k), sources[0].Count * (k + 1L)));
            return Task.FromResult(0);
        });
        return cmd;
    }

    private static Command Merge()
    {
        var sources = new Argument<FileInfo[]>("sources") { Description = "Two or more trace files in any supported format", Arity = ArgumentArity.OneOrMore };
        var output = TraceCommands.OutputOption(OutputHelp);
        var cmd = new Command("merge", "Interleave traces by arrival time into one (counts and tokens add up; ids renumbered 0..N-1).");
        cmd.Arguments.Add(sources);
        cmd.Options.Add(output);
        cmd.SetAction((p, cancel) =>
        {
            var inputs = p.GetValue(sources)!.Select(f => f.FullName).ToList();
            Run(p, cancel, "merging", inputs, p.GetValue(output)!.FullName, renumber: true, (opened, progress, ct) =>
                (TraceTransforms.Merge(opened.Select(s => progress.Track(s.Read(ct))).ToList()), opened.Sum(s => s.Count)));
            return Task.FromResult(0);
        });
        return cmd;
    }
}
