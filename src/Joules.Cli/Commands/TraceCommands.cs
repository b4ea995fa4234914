using System.CommandLine;
using System.Globalization;
using Joules.Traces;
using Joules.Traces.Canonical;
using Joules.Traces.Import;
using Joules.Traces.Stats;

namespace Joules.Cli.Commands;

/// <summary>The `joules trace` command group: import, stats, slice, sample, scale, tile, merge, synth.</summary>
public static class TraceCommands
{
    public static Command Create()
    {
        var cmd = new Command("trace",
            "Import, describe, transform and synthesise request traces. The canonical trace is Parquet with one row per request " +
            "(request_id, arrival_time, input_tokens, output_tokens, optional model/tenant/session_id/slo_class); " +
            "every command also reads Azure, BurstGPT, Mooncake, Vidur and mapped CSV/JSONL directly.");
        cmd.Subcommands.Add(Import());
        cmd.Subcommands.Add(Stats());
        foreach (var t in TraceTransformCommands.Create()) cmd.Subcommands.Add(t);
        cmd.Subcommands.Add(TraceSynthCommand.Create());
        return cmd;
    }

    /// <summary>Options that say how to read a source trace, shared by import and stats.</summary>
    internal sealed class SourceOptions
    {
        public readonly Option<TraceFormat> Format = CliOptions.Choice("--format",
            $"Source layout: {CliOptions.Names<TraceFormat>()} (auto sniffs the header or JSON keys)", TraceFormat.Auto, "-f");
        public readonly Option<string?> Map = new("--map")
        {
            Description = "Column mapping for other layouts: arrival=COL,input=COL,output=COL[,model=COL,tenant=COL,session=COL,slo=COL,id=COL]",
        };
        public readonly Option<bool> SkipInvalid = new("--skip-invalid")
        {
            Description = "Skip rows that cannot be read and report how many and why, instead of stopping at the first",
        };
        public readonly Option<bool> DropFailed = new("--drop-failed")
        {
            Description = "BurstGPT: drop failed requests (0 response tokens); they are counted and reported either way",
        };
        public readonly Option<bool> Renumber = RenumberOption();
        public readonly Option<double?> Rate = CliOptions.OptionalNumber("--rate",
            "Length-only files (no times): generate Poisson arrivals at this mean rate, requests/s", "a positive rate in requests/s", v => v > 0);
        public readonly Option<int> Seed = CliOptions.Whole("--seed", "Seed for generated arrivals of length-only files", "a whole number", defaultValue: 1);
        public readonly Option<TimeUnit?> TimeUnit = CliOptions.OptionalChoice<TimeUnit>("--time-unit",
            "Unit of a numeric arrival column in --map files: seconds (default), milliseconds, microseconds");
        public readonly Option<string?> Start = new("--start")
        {
            Description = "Date-time that relative arrival times (BurstGPT, Mooncake, Vidur, length-only) count from; default 1970-01-01T00:00:00Z",
        };

        public void AddTo(Command c)
        {
            foreach (var o in new Option[] { Format, Map, SkipInvalid, DropFailed, Renumber, Rate, Seed, TimeUnit, Start }) c.Options.Add(o);
        }

        public TraceImportOptions Get(ParseResult p) => new()
        {
            Format = p.GetValue(Format),
            Map = p.GetValue(Map) is { } m ? ColumnMap.Parse(m) : null,
            SkipInvalid = p.GetValue(SkipInvalid),
            DropFailed = p.GetValue(DropFailed),
            Renumber = p.GetValue(Renumber),
            Rate = p.GetValue(Rate),
            Seed = p.GetValue(Seed),
            TimeUnit = p.GetValue(TimeUnit),
            StartMicros = p.GetValue(Start) is { } s ? ParseTime(s, "--start") : 0,
        };
    }

    internal static Option<bool> RenumberOption() => new("--renumber")
    {
        Description = "Number the requests 0..N-1 by arrival instead of keeping the source's ids (duplicate source ids are an error without it)",
    };

    internal static long ParseTime(string text, string option) =>
        TimeText.TryParseMicros(text, out var t) ? t : throw new ArgumentException($"{option}: '{text}' is not a date-time (e.g. 2024-05-10T00:00:00Z)");

    internal static Option<FileInfo> OutputOption(string description) => new("--output", "-o") { Description = description, Required = true };

    internal static Argument<FileInfo> SourceArgument(string name = "source") => new(name)
    {
        Description = "Trace file: canonical Parquet or CSV, Azure/BurstGPT/Vidur/length-only CSV, Mooncake JSONL",
    };

    internal static string Micros(long t) => TimeText.Format(t);

    /// <summary>Key/value metadata recording how a file was made: the joules version and command line, plus any extra pairs.</summary>
    internal static Dictionary<string, string> Provenance(ParseResult p, params (string Key, string Value)[] extra)
    {
        var d = new Dictionary<string, string>
        {
            ["joules.version"] = Program.VersionString,
            ["joules.command"] = "joules " + string.Join(' ', p.Tokens.Select(t => t.Value.Contains(' ') ? $"\"{t.Value}\"" : t.Value)),
        };
        foreach (var (k, v) in extra) d[k] = v;
        return d;
    }

    private static Command Import()
    {
        var src = SourceArgument();
        var output = OutputOption("Canonical trace to write: .parquet, or .csv for the same columns as text. Written to a temporary file and renamed into place when complete; it may be the source itself");
        var so = new SourceOptions();
        var cmd = new Command("import",
            "Convert a trace to the canonical format. The layout is sniffed from the header (or JSON keys) unless --format or --map says otherwise; " +
            "bad rows stop the import with file, line and column unless --skip-invalid; out-of-order arrivals are sorted with a warning; " +
            "duplicate source ids are an error unless --renumber. A source that yields no request writes nothing and fails.");
        cmd.Arguments.Add(src);
        cmd.Options.Add(output);
        so.AddTo(cmd);
        cmd.SetAction((p, cancel) => Task.FromResult(RunImport(p, cancel)));
        return cmd;

        int RunImport(ParseResult p, CancellationToken cancel)
        {
            var path = p.GetValue(src)!.FullName;
            var outPath = p.GetValue(output)!.FullName;
            CanonicalTraceWriter.CheckPath(outPath);
            var options = so.Get(p);
            var provenance = Provenance(p, ("joules.trace.source", Path.GetFileName(path)));
            var report = TraceRun.Writing(p, outPath, cancel, progress => TraceFile.ImportTo(path, outPath, options, provenance, progress, cancel));
            TraceRun.PrintReport(p, report.Lines());
            p.InvocationConfiguration.Output.WriteLine($"wrote {report.Imported:N0} requests to {outPath}");
            return 0;
        }
    }

    private static Command Stats()
    {
        var src = SourceArgument();
        var json = new Option<bool>("--json") { Description = "Print JSON: requests, duration_s, input_tokens/output_tokens {sum, mean, p50, p90, p99, max}, rate {mean_rps, peak_per_minute_rps}, bins" };
        var inBins = new Option<string?>("--input-bins") { Description = "Input-token bin edges, e.g. 0,128,512,2048,8192 (default pow2: 0,1,2,4,…)" };
        var outBins = new Option<string?>("--output-bins") { Description = "Output-token bin edges, e.g. 0,64,256,1024 (default pow2)" };
        var so = new SourceOptions();
        var cmd = new Command("stats",
            "Describe a trace: requests, duration, mean and peak per-minute rate, input/output token mean and percentiles (nearest rank), " +
            "and the input × output token histogram on the given bin edges (bin [lo, hi), last bin open). Reads any supported format in one streaming pass.");
        cmd.Arguments.Add(src);
        cmd.Options.Add(json);
        cmd.Options.Add(inBins);
        cmd.Options.Add(outBins);
        so.AddTo(cmd);
        cmd.SetAction((p, cancel) =>
        {
            var path = p.GetValue(src)!.FullName;
            var options = so.Get(p);
            var inEdges = BinEdges.Parse(p.GetValue(inBins), "--input-bins");
            var outEdges = BinEdges.Parse(p.GetValue(outBins), "--output-bins");
            var report = new ImportReport { File = path };
            TraceStats stats;
            using (var progress = TraceRun.Progress(p))
            {
                progress.Begin($"reading {Path.GetFileName(path)}", null, Joules.Progress.ProgressUnit.Bytes);
                stats = TraceStatistics.Compute(TraceFile.ReadUnsorted(path, options, report, cancel, progress), inEdges, outEdges);
                progress.End();
            }
            var o = p.InvocationConfiguration.Output;
            if (p.GetValue(json)) o.WriteLine(stats.ToJson());
            else PrintStats(o, path, report, stats, inEdges, outEdges);
            if (p.GetValue(json))
                foreach (var line in report.Lines().Skip(1)) p.InvocationConfiguration.Error.WriteLine(line);
            if (stats.Requests == 0) TraceRun.Warn(p, $"{path} holds no requests ({report.RowsRead:N0} rows read)");
            return Task.FromResult(0);
        });
        return cmd;
    }

    private static void PrintStats(TextWriter o, string path, ImportReport report, TraceStats s, BinEdges inEdges, BinEdges outEdges)
    {
        var ci = CultureInfo.InvariantCulture;
        o.WriteLine($"trace        {Path.GetFileName(path)} ({report.Format})");
        foreach (var line in report.Lines().Skip(1)) o.WriteLine($"             {line}");
        o.WriteLine(string.Create(ci, $"requests     {s.Requests:N0}"));
        if (s.Requests > 0) o.WriteLine($"span         {Micros(s.FirstArrivalMicros)} .. {Micros(s.LastArrivalMicros)}");
        o.WriteLine(string.Create(ci, $"duration     {s.DurationSeconds:F1} s ({s.DurationSeconds / 3600:F2} h)"));
        o.WriteLine(string.Create(ci, $"rate         mean {s.MeanRps:F3} req/s, peak minute {s.PeakPerMinuteRps:F3} req/s, inter-arrival CV {(s.InterarrivalCv is { } cv ? cv.ToString("F3", ci) : "n/a (unsorted)")}"));
        o.WriteLine($"{"tokens",-12} {"sum",16} {"mean",10} {"p50",8} {"p90",8} {"p99",8} {"max",8}");
        foreach (var (name, t) in new[] { ("input", s.InputTokens), ("output", s.OutputTokens) })
            o.WriteLine(string.Create(ci, $"{name,-12} {t.Sum,16:N0} {t.Mean,10:F1} {t.P50,8} {t.P90,8} {t.P99,8} {t.Max,8}"));
        if (s.Bins.Count == 0) return;
        // The 2-D histogram as a matrix of shares (%), trimmed to the rows and columns that have requests.
        var rows = s.Bins.Select(b => b.InputLo).Distinct().Order().ToList();
        var cols = s.Bins.Select(b => b.OutputLo).Distinct().Order().ToList();
        var lookup = s.Bins.ToDictionary(b => (b.InputLo, b.OutputLo));
        o.WriteLine();
        o.WriteLine("share of requests (%) by input tokens (rows) × output tokens (columns), bins [lo, next lo)");
        o.Write($"{"in \\ out",-10}");
        foreach (var c in cols) o.Write($"{Label(c),7}");
        o.WriteLine();
        foreach (var r in rows)
        {
            o.Write($"{Label(r),-10}");
            foreach (var c in cols)
                o.Write(lookup.TryGetValue((r, c), out var b) ? string.Create(ci, $"{b.Share * 100,7:F2}") : $"{".",7}");
            o.WriteLine();
        }
    }

    private static string Label(int v) => v >= 1 << 20 && v % (1 << 20) == 0 ? $"{v >> 20}M" : v >= 1024 && v % 1024 == 0 ? $"{v >> 10}k" : v.ToString(CultureInfo.InvariantCulture);
}
