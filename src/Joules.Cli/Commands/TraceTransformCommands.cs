using System.CommandLine;
using Joules.Traces;
using Joules.Traces.Canonical;
using Joules.Traces.Import;
using Joules.Traces.Transform;

namespace Joules.Cli.Commands;

/// <summary>`joules trace slice|sample|scale|tile|merge`: streaming transformations that read any supported trace and write a canonical one.</summary>
internal static class TraceTransformCommands
{
    public static IEnumerable<Command> Create() => [Slice(), Sample(), Scale(), Tile(), Merge()];

    private static int WriteOut(ParseResult p, string outPath, OptionalColumns columns, IEnumerable<TraceRequest> requests)
    {
        var n = TraceProgress.Run(p, "writing", null, report =>
            CanonicalTraceWriter.Write(outPath, TraceProgress.Track(requests, report), TraceCommands.Provenance(p), columns));
        p.InvocationConfiguration.Output.WriteLine($"wrote {n:N0} requests to {outPath}");
        return 0;
    }

    private static Command Slice()
    {
        var src = TraceCommands.SourceArgument();
        var output = TraceCommands.OutputOption("Canonical trace to write (.parquet or .csv)");
        var from = new Option<string?>("--from") { Description = "Start (inclusive): an offset from the trace's first arrival such as 10m, 2h, 1d, or an absolute date-time; default the start" };
        var to = new Option<string?>("--to") { Description = "End (exclusive): an offset from the first arrival or an absolute date-time; default the end. Slices [a,b) and [b,c) partition [a,c)" };
        var rebase = new Option<bool>("--rebase") { Description = "Shift arrivals so the slice starts at the original trace's first arrival" };
        var cmd = new Command("slice", "Keep the requests that arrive in a time window [from, to).");
        cmd.Arguments.Add(src);
        foreach (var o in new Option[] { output, from, to, rebase }) cmd.Options.Add(o);
        cmd.SetAction(p =>
        {
            var (source, columns) = TraceCommands.OpenSorted(p.GetValue(src)!.FullName);
            var first = source.Select(r => (long?)r.ArrivalMicros).FirstOrDefault() ?? 0;
            long At(string? text, long dflt) => text is null ? dflt
                : TraceDuration.TryParseSeconds(text, out var s) ? first + (long)Math.Round(s * 1e6)
                : TraceCommands.ParseTime(text, "--from/--to");
            var a = At(p.GetValue(from), long.MinValue);
            var b = At(p.GetValue(to), long.MaxValue);
            if (b < a) throw new ArgumentException("--to is before --from");
            return WriteOut(p, p.GetValue(output)!.FullName, columns,
                TraceTransforms.Slice(source, a, b, p.GetValue(rebase) ? first : null));
        });
        return cmd;
    }

    private static Command Sample()
    {
        var src = TraceCommands.SourceArgument();
        var output = TraceCommands.OutputOption("Canonical trace to write (.parquet or .csv)");
        var fraction = new Option<double>("--fraction") { Description = "Probability of keeping each request, in [0, 1] (0.1 keeps about a tenth)", Required = true };
        var seed = new Option<int>("--seed") { Description = "Random seed; the same seed keeps the same requests", DefaultValueFactory = _ => 1 };
        var cmd = new Command("sample", "Keep a random fraction of the requests (independently per request, reproducible for a seed); ids are kept.");
        cmd.Arguments.Add(src);
        foreach (var o in new Option[] { output, fraction, seed }) cmd.Options.Add(o);
        cmd.SetAction(p =>
        {
            var (source, columns) = TraceCommands.OpenSorted(p.GetValue(src)!.FullName);
            return WriteOut(p, p.GetValue(output)!.FullName, columns, TraceTransforms.Sample(source, p.GetValue(fraction), p.GetValue(seed)));
        });
        return cmd;
    }

    private static Command Scale()
    {
        var src = TraceCommands.SourceArgument();
        var output = TraceCommands.OutputOption("Canonical trace to write (.parquet or .csv)");
        var factor = new Option<double>("--factor") { Description = "Multiply the arrival rate by this: 2 halves every gap from the first arrival, 0.5 doubles them", Required = true };
        var cmd = new Command("scale", "Scale the arrival rate, keeping every request and its token counts.");
        cmd.Arguments.Add(src);
        cmd.Options.Add(output);
        cmd.Options.Add(factor);
        cmd.SetAction(p =>
        {
            var (source, columns) = TraceCommands.OpenSorted(p.GetValue(src)!.FullName);
            return WriteOut(p, p.GetValue(output)!.FullName, columns, TraceTransforms.ScaleRate(source, p.GetValue(factor)));
        });
        return cmd;
    }

    private static Command Tile()
    {
        var src = TraceCommands.SourceArgument();
        var output = TraceCommands.OutputOption("Canonical trace to write (.parquet or .csv)");
        var copies = new Option<int>("--copies", "-k") { Description = "How many copies back to back (each shifted by the trace's span plus one mean gap)", Required = true };
        var cmd = new Command("tile", "Repeat a trace k times in time to make a longer one: k × requests, k × tokens; ids renumbered, sessions suffixed #copy.");
        cmd.Arguments.Add(src);
        cmd.Options.Add(output);
        cmd.Options.Add(copies);
        cmd.SetAction(p =>
        {
            // A canonical Parquet source is re-read for each pass; other layouts are imported once and reused.
            var (source, columns) = TraceCommands.OpenSorted(p.GetValue(src)!.FullName);
            return WriteOut(p, p.GetValue(output)!.FullName, columns, TraceTransforms.Tile(() => source, p.GetValue(copies)));
        });
        return cmd;
    }

    private static Command Merge()
    {
        var sources = new Argument<FileInfo[]>("sources") { Description = "Two or more trace files in any supported format", Arity = ArgumentArity.OneOrMore };
        var output = TraceCommands.OutputOption("Canonical trace to write (.parquet or .csv)");
        var cmd = new Command("merge", "Interleave traces by arrival time into one (counts and tokens add up; ids renumbered 0..N-1).");
        cmd.Arguments.Add(sources);
        cmd.Options.Add(output);
        cmd.SetAction(p =>
        {
            var inputs = p.GetValue(sources)!.Select(f => TraceCommands.OpenSorted(f.FullName)).ToList();
            var columns = inputs.Aggregate(OptionalColumns.None, (c, i) => c | i.Columns);
            return WriteOut(p, p.GetValue(output)!.FullName, columns, TraceTransforms.Merge(inputs.Select(i => i.Requests).ToList()));
        });
        return cmd;
    }
}
