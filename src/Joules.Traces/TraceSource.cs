using Joules.Progress;
using Joules.Traces.Canonical;
using Joules.Traces.Import;

namespace Joules.Traces;

/// <summary>
/// Any trace file Joules reads — canonical Parquet or CSV, Azure, BurstGPT, Mooncake, Vidur, length-only, mapped
/// CSV/JSONL/Parquet — opened as one stream of requests sorted by arrival, with the validation of `joules trace import`.
/// </summary>
/// <remarks>
/// <see cref="Open"/> checks the file (a folder, an empty, truncated, compressed or binary file is refused with a
/// message naming it) and the layout. A canonical Parquet file is streamed with bounded memory on each
/// <see cref="Read"/> (it must be sorted by arrival; its ids must be unique unless <see cref="TraceImportOptions.Renumber"/>);
/// every other layout is imported into memory at <see cref="Open"/>, sorted (stably) and numbered. A source with no
/// request is an error. Bad rows throw <see cref="TraceFormatException"/> (file, line, column, expected, found) unless
/// <see cref="TraceImportOptions.SkipInvalid"/>; <see cref="Report"/> says what happened to every row and carries the
/// warnings (out-of-order arrivals sorted, requests with 0 output tokens and what the simulator does with them).
/// </remarks>
public sealed class TraceSource
{
    private readonly TraceRequest[]? _held;
    private readonly TraceImportOptions _options;
    private int _passes;

    private TraceSource(string path, TraceImportOptions options, TraceRequest[]? held, ImportReport report, OptionalColumns columns, long count)
    {
        Path = path;
        _options = options;
        _held = held;
        Report = report;
        Columns = columns;
        Count = count;
    }

    public string Path { get; }

    /// <summary>What reading did with every source row. For an imported source it is complete after <see cref="Open"/>; for a streamed Parquet file its counts and warnings are complete after the first full <see cref="Read"/>.</summary>
    public ImportReport Report { get; }

    /// <summary>The optional string columns the requests carry (what a canonical writer should include).</summary>
    public OptionalColumns Columns { get; }

    /// <summary>Number of requests (known before reading: the Parquet footer, or the imported array).</summary>
    public long Count { get; }

    /// <summary>True when <see cref="Read"/> streams from the file (canonical Parquet); false when the requests are held in memory.</summary>
    public bool Streams => _held is null;

    /// <summary>Opens <paramref name="path"/>; imports it into memory unless it is canonical Parquet. <paramref name="progress"/> (optional) shows the import.</summary>
    public static TraceSource Open(string path, TraceImportOptions? options = null, ProgressReporter? progress = null, CancellationToken cancel = default)
    {
        options ??= new TraceImportOptions();
        var container = TraceFile.Sniff(path);
        if (container == TraceFile.Container.Parquet && options.Map is null && options.Format is TraceFormat.Auto or TraceFormat.Canonical)
        {
            long rows;
            using (var reader = Joules.Parquet.ParquetFileReader.Open(path)) rows = reader.RowCount;
            if (rows == 0) throw new InvalidDataException($"{path}: holds no requests (a Parquet file with 0 rows)");
            var columns = OptionalColumnsOf.File(path);
            var report = new ImportReport { File = path, Format = TraceFormat.Canonical, Columns = columns };
            return new TraceSource(path, options, null, report, columns, rows);
        }
        progress?.Begin($"reading {System.IO.Path.GetFileName(path)}", null, ProgressUnit.Bytes);
        var imported = TraceFile.Import(path, options, cancel, progress);
        progress?.End();
        TraceFile.RequireRequests(path, imported.Report, writing: false);
        return new TraceSource(path, options, imported.Requests, imported.Report, OptionalColumnsOf.Data(imported.Requests), imported.Requests.LongLength);
    }

    /// <summary>The requests, sorted by arrival; may be enumerated again (a streamed file is re-read). <paramref name="cancel"/> is checked every few thousand rows.</summary>
    public IEnumerable<TraceRequest> Read(CancellationToken cancel = default) => _held is not null ? Held(_held, cancel) : Streamed(cancel);

    private static IEnumerable<TraceRequest> Held(TraceRequest[] held, CancellationToken cancel)
    {
        for (var i = 0; i < held.Length; i++)
        {
            if ((i & 0xFFF) == 0) cancel.ThrowIfCancellationRequested();
            yield return held[i];
        }
    }

    private IEnumerable<TraceRequest> Streamed(CancellationToken cancel)
    {
        // Only the first pass fills the report, so a re-read (trace tile) does not count rows twice.
        var report = Interlocked.Increment(ref _passes) == 1 ? Report : new ImportReport { File = Path };
        var prev = long.MinValue;
        long row = 0;
        foreach (var r in TraceFile.ReadUnsorted(Path, _options, report, cancel))
        {
            row++;
            if (r.ArrivalMicros < prev)
                throw new InvalidDataException(
                    $"{Path}: row {row:N0} arrives before row {row - 1:N0}; a canonical Parquet trace is streamed and must be sorted by arrival " +
                    $"(`joules trace import {System.IO.Path.GetFileName(Path)} -o sorted.parquet` sorts it)");
            prev = r.ArrivalMicros;
            yield return r;
        }
    }
}
