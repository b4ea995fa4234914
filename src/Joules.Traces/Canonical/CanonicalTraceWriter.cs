using System.Buffers.Text;
using System.Text;
using Joules.Output;
using Joules.Traces.Import;

namespace Joules.Traces.Canonical;

/// <summary>Streams requests into a canonical trace file: Parquet (`.parquet`, the DESIGN.md schema) or the same columns as CSV (`.csv`). Rows must arrive sorted by arrival time.</summary>
/// <remarks>The file is written through an <see cref="AtomicFile"/>: <see cref="Complete"/> renames it into place; disposing without it (an error, a cancellation) deletes the partial file and leaves any previous file untouched.</remarks>
public abstract class CanonicalTraceWriter : IDisposable
{
    public static readonly string[] ColumnNames = ["request_id", "arrival_time", "input_tokens", "output_tokens", "model", "tenant", "session_id", "slo_class"];

    /// <summary>The canonical Parquet schema (DESIGN.md "Trace").</summary>
    public static Joules.Parquet.ParquetSchema ParquetSchema => ParquetTraceWriter.Schema;

    private readonly AtomicFile _file;
    private readonly CancellationToken _cancel;
    private long _lastArrival = long.MinValue;

    public long Count { get; private set; }
    /// <summary>The destination (links resolved).</summary>
    public string Path => _file.Path;
    /// <summary>Whether a file was at <see cref="Path"/> before this writer (it stays untouched unless <see cref="Complete"/> succeeds).</summary>
    public bool Replaces => _file.Existed;

    protected CanonicalTraceWriter(AtomicFile file, CancellationToken cancel)
    {
        _file = file;
        _cancel = cancel;
    }

    /// <summary>The stream of the temporary file (writers leave it open; the atomic file closes it).</summary>
    protected Stream Stream => _file.Stream;

    private enum Kind { Parquet, Csv }

    private static Kind KindOf(string path) => System.IO.Path.GetExtension(path).ToLowerInvariant() switch
    {
        ".parquet" => Kind.Parquet,
        ".csv" => Kind.Csv,
        _ => throw new ArgumentException($"{path}: the output must end in .parquet (canonical trace) or .csv (the same columns as text)"),
    };

    /// <summary>Throws when <paramref name="path"/> cannot be a canonical trace output (its extension, or it is a folder), before any work starts.</summary>
    public static void CheckPath(string path)
    {
        KindOf(path);
        if (Directory.Exists(path)) throw new OutputRefusedException($"{path} is a folder; give the name of a .parquet or .csv file to write. Nothing was written.");
    }

    /// <summary>Picks the writer from the extension: `.parquet` or `.csv`. <paramref name="metadata"/> (provenance such as the command and seed) goes into Parquet key/value metadata; <paramref name="columns"/> are the optional string columns to include (a value for a left-out column is an error). <paramref name="cancel"/> is checked every few thousand rows and before the final rename.</summary>
    public static CanonicalTraceWriter Create(string path, IReadOnlyDictionary<string, string>? metadata = null, OptionalColumns columns = OptionalColumns.All, CancellationToken cancel = default)
    {
        var kind = KindOf(path);
        var file = AtomicFile.Create(path, cancel);
        try
        {
            return kind == Kind.Parquet ? new ParquetTraceWriter(file, metadata, columns, cancel) : new CsvTraceWriter(file, cancel);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>Writes a whole stream and returns the number of rows; an in-memory list gets exactly the optional columns it uses. <paramref name="progress"/>, when given, gets the rows written in its current stage.</summary>
    public static long Write(string path, IEnumerable<TraceRequest> requests, IReadOnlyDictionary<string, string>? metadata = null, OptionalColumns? columns = null,
        IProgress<long>? progress = null, CancellationToken cancel = default)
    {
        var cols = columns ?? (requests is IReadOnlyCollection<TraceRequest> held ? OptionalColumnsOf.Data(held) : OptionalColumns.All);
        using var w = Create(path, metadata, cols, cancel);
        foreach (var r in requests)
        {
            w.Write(r);
            if ((w.Count & 0xFFF) == 0) progress?.Report(w.Count);
        }
        progress?.Report(w.Count);
        w.Complete();
        return w.Count;
    }

    public void Write(in TraceRequest r)
    {
        if (r.ArrivalMicros < _lastArrival)
            throw new InvalidOperationException($"{Path}: request {r.RequestId} arrives before the previous one; canonical traces are sorted by arrival");
        if ((Count & 0xFFF) == 0) _cancel.ThrowIfCancellationRequested();
        _lastArrival = r.ArrivalMicros;
        WriteRow(r);
        Count++;
    }

    public void Write(ReadOnlySpan<TraceRequest> batch)
    {
        foreach (ref readonly var r in batch) Write(r);
    }

    protected abstract void WriteRow(in TraceRequest r);

    /// <summary>Flushes the last rows and the format's ending (the Parquet footer) into the temporary file.</summary>
    protected abstract void Finish();

    /// <summary>Releases the format writer (without finishing it).</summary>
    protected abstract void Close();

    /// <summary>Writes the footer, flushes the file to the disk and renames it into place; without it nothing reaches <see cref="Path"/>.</summary>
    public void Complete()
    {
        if (_file.Committed) return;
        _cancel.ThrowIfCancellationRequested();
        Finish();
        Close();
        // Encoding the last row group and flushing can take a while: a cancel that came meanwhile still leaves the
        // previous file in place (the rename below is the only step that is not undone).
        _cancel.ThrowIfCancellationRequested();
        _file.Commit();
    }

    public void Dispose()
    {
        try { Close(); }
        finally { _file.Dispose(); }
        GC.SuppressFinalize(this);
    }
}

/// <summary>Canonical columns as CSV text: arrival as ISO 8601 UTC with microseconds, optional strings empty when absent.</summary>
internal sealed class CsvTraceWriter : CanonicalTraceWriter
{
    private readonly Stream _stream;
    private readonly byte[] _buf = new byte[1 << 16];
    private int _pos;
    private bool _done;

    public CsvTraceWriter(AtomicFile file, CancellationToken cancel) : base(file, cancel)
    {
        _stream = Stream;
        Append(string.Join(',', ColumnNames));
        Append('\n');
    }

    protected override void WriteRow(in TraceRequest r)
    {
        if (_buf.Length - _pos < 256) Flush();
        Utf8Formatter.TryFormat(r.RequestId, _buf.AsSpan(_pos), out var n); _pos += n; Append(',');
        var t = new DateTime(DateTime.UnixEpoch.Ticks + r.ArrivalMicros * 10, DateTimeKind.Utc);
        t.TryFormat(_buf.AsSpan(_pos), out n, "yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", System.Globalization.CultureInfo.InvariantCulture); _pos += n; Append(',');
        Utf8Formatter.TryFormat(r.InputTokens, _buf.AsSpan(_pos), out n); _pos += n; Append(',');
        Utf8Formatter.TryFormat(r.OutputTokens, _buf.AsSpan(_pos), out n); _pos += n; Append(',');
        Field(r.Model); Append(','); Field(r.Tenant); Append(','); Field(r.SessionId); Append(','); Field(r.SloClass);
        Append('\n');
    }

    private void Field(string? s)
    {
        if (string.IsNullOrEmpty(s)) return;
        if (s.AsSpan().IndexOfAny(",\"\r\n") >= 0) s = "\"" + s.Replace("\"", "\"\"") + "\"";
        Append(s);
    }

    private void Append(char c)
    {
        if (_pos == _buf.Length) Flush();
        _buf[_pos++] = (byte)c;
    }

    private void Append(string s)
    {
        var max = Encoding.UTF8.GetMaxByteCount(s.Length);
        if (_buf.Length - _pos < max) Flush();
        if (max > _buf.Length) { _stream.Write(Encoding.UTF8.GetBytes(s)); return; }
        _pos += Encoding.UTF8.GetBytes(s, _buf.AsSpan(_pos));
    }

    private void Flush()
    {
        _stream.Write(_buf, 0, _pos);
        _pos = 0;
    }

    protected override void Finish()
    {
        if (_done) return;
        Flush();
        _done = true;
    }

    // The atomic file owns the stream.
    protected override void Close() { }
}
