using Joules.Traces.Canonical;

namespace Joules.Traces.Import;

/// <summary>A trace imported into memory and sorted by arrival, with the report of what happened to every source row.</summary>
public sealed record ImportedTrace(TraceRequest[] Requests, ImportReport Report);

/// <summary>Entry point for reading any supported trace file (canonical Parquet/CSV, Azure, BurstGPT, Mooncake, Vidur, length-only, mapped).</summary>
public static class TraceFile
{
    /// <summary>What kind of container a file is, from its first bytes (not its extension).</summary>
    public enum Container { Csv, JsonLines, Parquet }

    public static Container Sniff(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: no such file", path);
        using var f = File.OpenRead(path);
        Span<byte> head = stackalloc byte[4];
        var n = f.ReadAtLeast(head, 4, throwOnEndOfStream: false);
        if (n == 4 && head.SequenceEqual("PAR1"u8)) return Container.Parquet;
        f.Position = 0;
        int b;
        // Skip a UTF-8 byte-order mark and leading whitespace to see whether the first record is a JSON object.
        while ((b = f.ReadByte()) is 0xEF or 0xBB or 0xBF or ' ' or '\t' or '\r' or '\n') { }
        return b == '{' ? Container.JsonLines : Container.Csv;
    }

    /// <summary>Streams the requests of a file in source order (not sorted), filling <paramref name="report"/> as it goes. Order-independent consumers (statistics) use this; everything else wants <see cref="Import"/> or <see cref="ReadSorted"/>.</summary>
    public static IEnumerable<TraceRequest> ReadUnsorted(string path, TraceImportOptions? options, ImportReport report)
    {
        options ??= new TraceImportOptions();
        return Sniff(path) switch
        {
            Container.Parquet => CanonicalParquet(path, options, report),
            Container.JsonLines => RowSources.JsonLines(path, options, report),
            _ => RowSources.Csv(path, options, report),
        };
    }

    private static IEnumerable<TraceRequest> CanonicalParquet(string path, TraceImportOptions options, ImportReport report)
    {
        report.Format = options.Map is null ? TraceFormat.Canonical : TraceFormat.Mapped;
        report.Columns = options.Map is null ? OptionalColumnsOf.File(path) : OptionalColumns.All;
        foreach (var r in ParquetTraceReader.Read(path, options.Map, options.TimeUnit ?? TimeUnit.Seconds, options.StartMicros))
        {
            report.RowsRead++;
            report.Imported++;
            yield return r;
        }
    }

    /// <summary>Reads a whole file into memory sorted by arrival (stable); warns in the report when the source was out of order. Ids are the source's own when it has an id column, else 0..N-1 in arrival order.</summary>
    public static ImportedTrace Import(string path, TraceImportOptions? options = null)
    {
        options ??= new TraceImportOptions();
        var report = new ImportReport { File = path };
        var list = new List<TraceRequest>();
        var prev = long.MinValue;
        long outOfOrder = 0;
        foreach (var r in ReadUnsorted(path, options, report))
        {
            if (r.ArrivalMicros < prev) outOfOrder++;
            prev = r.ArrivalMicros;
            list.Add(r);
        }
        var requests = list.ToArray();
        if (outOfOrder > 0)
        {
            // Stable, so requests with equal arrival keep their source order.
            requests = requests.OrderBy(r => r.ArrivalMicros).ToArray();
            report.OutOfOrder = outOfOrder;
            report.Warnings.Add($"{outOfOrder:N0} arrivals were earlier than the row before them; requests sorted by arrival time");
        }
        var hasIds = report.Format == TraceFormat.Canonical;
        if (!hasIds)
            for (var i = 0; i < requests.Length; i++) requests[i] = requests[i] with { RequestId = i };
        return new ImportedTrace(requests, report);
    }

    /// <summary>Imports <paramref name="source"/> into the canonical file <paramref name="destination"/>. A sorted source (the usual case) streams straight through with bounded memory; at the first out-of-order arrival the partial output is discarded and the trace is imported in memory, sorted and written (reported as a warning).</summary>
    public static ImportReport ImportTo(string source, string destination, TraceImportOptions? options = null,
        IReadOnlyDictionary<string, string>? metadata = null, Action<long>? progress = null)
    {
        options ??= new TraceImportOptions();
        var report = new ImportReport { File = source };
        var sorted = true;
        using (var streamed = new DeferredWriter(destination, metadata, report))
        {
            var prev = long.MinValue;
            foreach (var r in ReadUnsorted(source, options, report))
            {
                if (r.ArrivalMicros < prev) { sorted = false; break; }
                prev = r.ArrivalMicros;
                streamed.Writer.Write(r);
                if ((streamed.Writer.Count & 0xFFFF) == 0) progress?.Invoke(streamed.Writer.Count);
            }
            if (sorted)
            {
                streamed.Writer.Complete();
                progress?.Invoke(streamed.Writer.Count);
                return report;
            }
        }
        var imported = Import(source, options);
        CanonicalTraceWriter.Write(destination, imported.Requests, metadata, OptionalColumnsOf.Data(imported.Requests));
        progress?.Invoke(imported.Requests.LongLength);
        return imported.Report;
    }

    /// <summary>Creates the canonical writer on first use, when the source's header has told the report which optional columns exist.</summary>
    private sealed class DeferredWriter(string path, IReadOnlyDictionary<string, string>? metadata, ImportReport report) : IDisposable
    {
        private CanonicalTraceWriter? _writer;
        public CanonicalTraceWriter Writer => _writer ??= CanonicalTraceWriter.Create(path, metadata, report.Columns);
        public void Dispose() => _writer?.Dispose();
    }

    /// <summary>Streams a trace sorted by arrival: a canonical Parquet file streams with bounded memory (it is sorted by construction); other layouts are imported into memory first.</summary>
    public static IEnumerable<TraceRequest> ReadSorted(string path, TraceImportOptions? options = null)
    {
        if (Sniff(path) == Container.Parquet && options?.Map is null) return CanonicalTraceReader.Read(path);
        return Import(path, options).Requests;
    }
}
