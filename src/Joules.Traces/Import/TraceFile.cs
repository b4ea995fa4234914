using Joules.Progress;
using Joules.Traces.Canonical;

namespace Joules.Traces.Import;

/// <summary>A trace imported into memory and sorted by arrival, with the report of what happened to every source row.</summary>
public sealed record ImportedTrace(TraceRequest[] Requests, ImportReport Report);

/// <summary>Reading any supported trace file (canonical Parquet/CSV, Azure, BurstGPT, Mooncake, Vidur, length-only, mapped): sniffing, streaming, importing into memory, and importing into a canonical file. <see cref="TraceSource"/> is the one-call entry point for consumers.</summary>
public static class TraceFile
{
    /// <summary>What kind of container a file is, from its first bytes (not its extension).</summary>
    public enum Container { Csv, JsonLines, Parquet }

    /// <summary>The container of a file; throws a message naming the file for a folder, an empty file, a truncated Parquet file, compressed or other binary data.</summary>
    public static Container Sniff(string path) => FileKind.Detect(path);

    /// <summary>Streams the requests of a file in source order (not sorted), filling <paramref name="report"/> as it goes, checking <paramref name="cancel"/> every few thousand rows. Order-independent consumers (statistics) use this; everything else wants <see cref="TraceSource.Open"/>.</summary>
    public static IEnumerable<TraceRequest> ReadUnsorted(string path, TraceImportOptions? options, ImportReport report, CancellationToken cancel = default, ProgressReporter? progress = null)
    {
        options ??= new TraceImportOptions();
        var rows = Sniff(path) switch
        {
            Container.Parquet => CanonicalParquet(path, options, report),
            Container.JsonLines => RowSources.JsonLines(path, options, report),
            _ => RowSources.Csv(path, options, report),
        };
        return Counted(rows, report, cancel, progress);
    }

    private static IEnumerable<TraceRequest> CanonicalParquet(string path, TraceImportOptions options, ImportReport report)
    {
        report.Format = options.Map is null ? TraceFormat.Canonical : TraceFormat.Mapped;
        report.Columns = options.Map is null ? OptionalColumnsOf.File(path) : OptionalColumns.All;
        return ParquetTraceReader.Read(path, options.Map, options.TimeUnit ?? TimeUnit.Seconds, options.StartMicros, options.Renumber, report);
    }

    /// <summary>Counts what the report warns about and checks for cancellation, on every source alike.</summary>
    private static IEnumerable<TraceRequest> Counted(IEnumerable<TraceRequest> rows, ImportReport report, CancellationToken cancel, ProgressReporter? progress)
    {
        long n = 0;
        foreach (var r in rows)
        {
            if ((++n & 0xFFF) == 0)
            {
                cancel.ThrowIfCancellationRequested();
                if (progress is not null) Report(progress, report, n);
            }
            if (r.OutputTokens == 0) report.ZeroOutputTokens++;
            if (r.InputTokens == 0) report.ZeroInputTokens++;
            yield return r;
        }
        cancel.ThrowIfCancellationRequested();
    }

    /// <summary>Reads a whole file into memory sorted by arrival (stable); warns in the report when the source was out of order. Ids are the source's own when it has an id column (unless <see cref="TraceImportOptions.Renumber"/>), else 0..N-1 in arrival order.</summary>
    public static ImportedTrace Import(string path, TraceImportOptions? options = null, CancellationToken cancel = default, ProgressReporter? progress = null)
    {
        options ??= new TraceImportOptions();
        var report = new ImportReport { File = path };
        var list = new List<TraceRequest>();
        var prev = long.MinValue;
        long outOfOrder = 0;
        foreach (var r in ReadUnsorted(path, options, report, cancel))
        {
            if (r.ArrivalMicros < prev) outOfOrder++;
            prev = r.ArrivalMicros;
            list.Add(r);
            if ((list.Count & 0xFFF) == 0 && progress is not null) Report(progress, report, list.Count);
        }
        var requests = list.ToArray();
        if (outOfOrder > 0)
        {
            // Stable, so requests with equal arrival keep their source order.
            requests = requests.OrderBy(r => r.ArrivalMicros).ToArray();
            report.OutOfOrder = outOfOrder;
            report.Warnings.Add($"{outOfOrder:N0} {(outOfOrder == 1 ? "arrival was" : "arrivals were")} earlier than the row before {(outOfOrder == 1 ? "it" : "them")}; requests sorted by arrival time");
        }
        if (!report.SourceIds)
            for (var i = 0; i < requests.Length; i++) requests[i] = requests[i] with { RequestId = i };
        return new ImportedTrace(requests, report);
    }

    /// <summary>
    /// Imports <paramref name="source"/> into the canonical file <paramref name="destination"/>, written through a temporary
    /// file and renamed into place only when complete: on any error or cancellation the previous destination is untouched.
    /// A sorted source (the usual case) streams straight through with bounded memory; at the first out-of-order arrival the
    /// partial output is discarded and the trace is imported in memory, sorted and written (reported as a warning).
    /// A source that yields no request is an error, not an empty trace.
    /// </summary>
    public static ImportReport ImportTo(string source, string destination, TraceImportOptions? options = null,
        IReadOnlyDictionary<string, string>? metadata = null, ProgressReporter? progress = null, CancellationToken cancel = default)
    {
        options ??= new TraceImportOptions();
        CanonicalTraceWriter.CheckPath(destination);
        var report = new ImportReport { File = source };
        var name = Path.GetFileName(source);
        progress?.Begin($"importing {name}", null, ProgressUnit.Bytes);
        var sorted = true;
        using (var streamed = new DeferredWriter(destination, metadata, report, cancel))
        {
            var prev = long.MinValue;
            foreach (var r in ReadUnsorted(source, options, report, cancel))
            {
                if (r.ArrivalMicros < prev) { sorted = false; break; }
                prev = r.ArrivalMicros;
                streamed.Writer.Write(r);
                if ((streamed.Writer.Count & 0xFFF) == 0 && progress is not null) Report(progress, report, streamed.Writer.Count);
            }
            if (sorted)
            {
                RequireRequests(source, report);
                progress?.Begin($"writing {Path.GetFileName(destination)}", null);
                streamed.Writer.Complete();
                progress?.End();
                return report;
            }
        }
        progress?.Begin($"importing {name} (sorting by arrival)", null, ProgressUnit.Bytes);
        var imported = Import(source, options, cancel);
        RequireRequests(source, imported.Report);
        progress?.Begin($"writing {Path.GetFileName(destination)}", imported.Requests.LongLength);
        CanonicalTraceWriter.Write(destination, imported.Requests, metadata, OptionalColumnsOf.Data(imported.Requests), progress, cancel);
        progress?.End();
        return imported.Report;
    }

    private static void Report(ProgressReporter progress, ImportReport report, long rows)
    {
        if (report.BytesTotal > 0) progress.SetTotal(report.BytesTotal);
        progress.Report(report.BytesRead);
        progress.Count(rows);
    }

    /// <summary>A run that would write an empty trace from a source that had rows (all skipped) or none is an error.</summary>
    internal static void RequireRequests(string source, ImportReport report, bool writing = true)
    {
        if (report.Imported > 0) return;
        var why = report.RowsRead == 0 ? "it has no data rows"
            : report.Skipped == report.RowsRead ? $"all {report.RowsRead:N0} rows were invalid and skipped (first: {report.SkippedExamples.FirstOrDefault()})"
            : $"{report.RowsRead:N0} rows read, none kept";
        throw new InvalidDataException($"{source} yields no requests: {why}" + (writing ? "; nothing was written" : ""));
    }

    /// <summary>Creates the canonical writer on first use, when the source's header has told the report which optional columns exist.</summary>
    private sealed class DeferredWriter(string path, IReadOnlyDictionary<string, string>? metadata, ImportReport report, CancellationToken cancel) : IDisposable
    {
        private CanonicalTraceWriter? _writer;
        public CanonicalTraceWriter Writer => _writer ??= CanonicalTraceWriter.Create(path, metadata, report.Columns, cancel);
        public void Dispose() => _writer?.Dispose();
    }
}
