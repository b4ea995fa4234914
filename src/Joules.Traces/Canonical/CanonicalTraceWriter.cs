using System.Buffers.Text;
using System.Text;
using Joules.Traces.Import;

namespace Joules.Traces.Canonical;

/// <summary>Streams requests into a canonical trace file: Parquet (`.parquet`, the DESIGN.md schema) or the same columns as CSV (`.csv`). Rows must arrive sorted by arrival time.</summary>
public abstract class CanonicalTraceWriter : IDisposable
{
    public static readonly string[] ColumnNames = ["request_id", "arrival_time", "input_tokens", "output_tokens", "model", "tenant", "session_id", "slo_class"];

    /// <summary>The canonical Parquet schema (DESIGN.md "Trace").</summary>
    public static Joules.Parquet.ParquetSchema ParquetSchema => ParquetTraceWriter.Schema;

    private long _lastArrival = long.MinValue;

    public long Count { get; private set; }
    public string Path { get; }

    protected CanonicalTraceWriter(string path) => Path = path;

    /// <summary>Picks the writer from the extension: `.parquet` or `.csv`. <paramref name="metadata"/> (provenance such as the command and seed) goes into Parquet key/value metadata; <paramref name="columns"/> are the optional string columns to include (a value for a left-out column is an error).</summary>
    public static CanonicalTraceWriter Create(string path, IReadOnlyDictionary<string, string>? metadata = null, OptionalColumns columns = OptionalColumns.All)
    {
        var ext = System.IO.Path.GetExtension(path).ToLowerInvariant();
        return ext switch
        {
            ".parquet" => new ParquetTraceWriter(path, metadata, columns),
            ".csv" => new CsvTraceWriter(path),
            _ => throw new ArgumentException($"{path}: output must end in .parquet (canonical trace) or .csv (the same columns as text)"),
        };
    }

    /// <summary>Writes a whole stream and returns the number of rows; an in-memory list gets exactly the optional columns it uses.</summary>
    public static long Write(string path, IEnumerable<TraceRequest> requests, IReadOnlyDictionary<string, string>? metadata = null, OptionalColumns? columns = null)
    {
        var cols = columns ?? (requests is IReadOnlyCollection<TraceRequest> held ? OptionalColumnsOf.Data(held) : OptionalColumns.All);
        using var w = Create(path, metadata, cols);
        foreach (var r in requests) w.Write(r);
        w.Complete();
        return w.Count;
    }

    public void Write(in TraceRequest r)
    {
        if (r.ArrivalMicros < _lastArrival)
            throw new InvalidOperationException($"{Path}: request {r.RequestId} arrives before the previous one; canonical traces are sorted by arrival");
        _lastArrival = r.ArrivalMicros;
        WriteRow(r);
        Count++;
    }

    public void Write(ReadOnlySpan<TraceRequest> batch)
    {
        foreach (ref readonly var r in batch) Write(r);
    }

    protected abstract void WriteRow(in TraceRequest r);

    /// <summary>Flushes everything and writes the file footer; without it the file is incomplete.</summary>
    public abstract void Complete();

    public abstract void Dispose();
}

/// <summary>Canonical columns as CSV text: arrival as ISO 8601 UTC with microseconds, optional strings empty when absent.</summary>
internal sealed class CsvTraceWriter : CanonicalTraceWriter
{
    private readonly Stream _stream;
    private readonly byte[] _buf = new byte[1 << 16];
    private int _pos;
    private bool _done;

    public CsvTraceWriter(string path) : base(path)
    {
        _stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16);
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

    public override void Complete()
    {
        if (_done) return;
        Flush();
        _stream.Flush();
        _done = true;
    }

    public override void Dispose()
    {
        Complete();
        _stream.Dispose();
    }
}
