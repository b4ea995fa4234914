using System.Globalization;
using Joules.Output;
using Joules.Parquet;
using Joules.Traces.Import;

namespace Joules.Traces.Canonical;

/// <summary>Canonical trace rows to Parquet (DESIGN.md schema), buffered into row groups so memory is one row group whatever the trace length.</summary>
internal sealed class ParquetTraceWriter : CanonicalTraceWriter
{
    /// <summary>Rows per row group: about 30 MB of buffers, and large enough for good compression.</summary>
    internal const int RowGroupRows = 1 << 19;

    public static readonly ParquetSchema Schema = SchemaFor(OptionalColumns.All);

    public static ParquetSchema SchemaFor(OptionalColumns optional)
    {
        var columns = new List<ParquetColumn>
        {
            ParquetColumn.Int64("request_id"),
            ParquetColumn.Timestamp("arrival_time", Parquet.TimeUnit.Micros, utc: true),
            ParquetColumn.Int32("input_tokens"),
            ParquetColumn.Int32("output_tokens"),
        };
        if (optional.HasFlag(OptionalColumns.Model)) columns.Add(ParquetColumn.String("model", optional: true));
        if (optional.HasFlag(OptionalColumns.Tenant)) columns.Add(ParquetColumn.String("tenant", optional: true));
        if (optional.HasFlag(OptionalColumns.SessionId)) columns.Add(ParquetColumn.String("session_id", optional: true));
        if (optional.HasFlag(OptionalColumns.SloClass)) columns.Add(ParquetColumn.String("slo_class", optional: true));
        if (optional.HasFlag(OptionalColumns.HashIds)) columns.Add(ParquetColumn.List("hash_ids", ParquetColumn.Int64("element"), optional: true));
        return new ParquetSchema(columns);
    }

    private readonly ParquetFileWriter _writer;
    private readonly long[] _id = new long[RowGroupRows];
    private readonly long[] _arrival = new long[RowGroupRows];
    private readonly int[] _input = new int[RowGroupRows];
    private readonly int[] _output = new int[RowGroupRows];
    private readonly string?[] _model = new string?[RowGroupRows];
    private readonly string?[] _tenant = new string?[RowGroupRows];
    private readonly string?[] _session = new string?[RowGroupRows];
    private readonly string?[] _slo = new string?[RowGroupRows];
    // hash_ids of the row group as flat arrays: row i's ids are _hashValues[_hashOffsets[i] .. _hashOffsets[i + 1]).
    private readonly int[] _hashOffsets = new int[RowGroupRows + 1];
    private readonly bool[] _hashPresent = new bool[RowGroupRows];
    private long[] _hashValues = [];
    private readonly OptionalColumns _optional;
    private int _n;
    private bool _done;

    public ParquetTraceWriter(AtomicFile file, IReadOnlyDictionary<string, string>? metadata, OptionalColumns optional, CancellationToken cancel) : base(file, cancel)
    {
        var meta = new Dictionary<string, string> { ["joules.trace.schema"] = "1" };
        if (metadata is not null) foreach (var (k, v) in metadata) meta[k] = v;
        _optional = optional;
        _writer = new ParquetFileWriter(Stream, SchemaFor(optional), new ParquetWriteOptions { Metadata = meta, RowGroupRows = RowGroupRows }, leaveOpen: true);
    }

    protected override void WriteRow(in TraceRequest r)
    {
        if (_optional != OptionalColumns.All) CheckLeftOut(r);
        _id[_n] = r.RequestId;
        _arrival[_n] = r.ArrivalMicros;
        _input[_n] = r.InputTokens;
        _output[_n] = r.OutputTokens;
        _model[_n] = r.Model;
        _tenant[_n] = r.Tenant;
        _session[_n] = r.SessionId;
        _slo[_n] = r.SloClass;
        if (_optional.HasFlag(OptionalColumns.HashIds))
        {
            var start = _hashOffsets[_n];
            var ids = r.HashIds ?? [];
            if (start + ids.Length > _hashValues.Length) Array.Resize(ref _hashValues, Math.Max(1024, Math.Max(start + ids.Length, _hashValues.Length * 2)));
            ids.CopyTo(_hashValues, start);
            _hashOffsets[_n + 1] = start + ids.Length;
            _hashPresent[_n] = r.HashIds is not null;
        }
        if (++_n == RowGroupRows) FlushGroup();
    }

    private void CheckLeftOut(in TraceRequest r)
    {
        if ((r.Model is not null && !_optional.HasFlag(OptionalColumns.Model))
            || (r.Tenant is not null && !_optional.HasFlag(OptionalColumns.Tenant))
            || (r.SessionId is not null && !_optional.HasFlag(OptionalColumns.SessionId))
            || (r.SloClass is not null && !_optional.HasFlag(OptionalColumns.SloClass))
            || (r.HashIds is not null && !_optional.HasFlag(OptionalColumns.HashIds)))
            throw new InvalidOperationException($"{Path}: request {r.RequestId} has a value for an optional column this file was created without ({_optional})");
    }

    private void FlushGroup()
    {
        if (_n == 0) return;
        var columns = new List<ColumnData>
        {
            ColumnData.From(_id, count: _n), ColumnData.From(_arrival, count: _n),
            ColumnData.From(_input, count: _n), ColumnData.From(_output, count: _n),
        };
        if (_optional.HasFlag(OptionalColumns.Model)) columns.Add(ColumnData.From(_model, count: _n));
        if (_optional.HasFlag(OptionalColumns.Tenant)) columns.Add(ColumnData.From(_tenant, count: _n));
        if (_optional.HasFlag(OptionalColumns.SessionId)) columns.Add(ColumnData.From(_session, count: _n));
        if (_optional.HasFlag(OptionalColumns.SloClass)) columns.Add(ColumnData.From(_slo, count: _n));
        if (_optional.HasFlag(OptionalColumns.HashIds)) columns.Add(ColumnData.FromLists(_hashOffsets, _hashValues, _hashPresent, count: _n));
        _writer.WriteRowGroup(columns);
        // Drop string references so a finished group's strings can be collected.
        Array.Clear(_model, 0, _n); Array.Clear(_tenant, 0, _n); Array.Clear(_session, 0, _n); Array.Clear(_slo, 0, _n);
        _n = 0;
        _hashOffsets[0] = 0;
    }

    protected override void Finish()
    {
        if (_done) return;
        FlushGroup();
        _writer.Complete();
        _done = true;
    }

    // Disposing an unfinished Parquet writer writes a footer, but only into the temporary file, which is then deleted.
    protected override void Close() => _writer.Dispose();
}

/// <summary>Parquet rows to trace requests: the canonical schema, or any flat file whose columns a <see cref="ColumnMap"/> names. The only place that touches the Parquet library on the read side.</summary>
internal static class ParquetTraceReader
{
    /// <summary>Streams the rows of a Parquet trace; source ids are checked to be unique unless <paramref name="renumber"/>, which numbers rows 0..N-1 in file order instead. <paramref name="report"/> (optional) gets row counts and the read position.</summary>
    public static IEnumerable<TraceRequest> Read(string path, ColumnMap? map, Import.TimeUnit relativeUnit, long startMicros, bool renumber = false, ImportReport? report = null)
    {
        using var reader = ParquetFileReader.Open(path);
        var m = map ?? LayoutPlan.CanonicalMap;
        string[] wanted = [m.Arrival ?? throw new ArgumentException($"{path}: a Parquet trace needs an arrival column (--map arrival=COL,...)"), m.Input, m.Output];
        foreach (var name in wanted)
            if (!reader.Schema.Contains(name))
                throw new InvalidDataException(
                    $"{path}: this Parquet file has no '{name}' column (its columns: {string.Join(", ", reader.Schema.Select(c => c.Name))}); " +
                    (map is null ? "a canonical trace has request_id, arrival_time, input_tokens, output_tokens; for another layout, `joules trace import FILE --map arrival=COL,input=COL,output=COL -o trace.parquet` converts it"
                        : "check the --map names"));
        string?[] optional = [m.Model, m.Tenant, m.Session, m.Slo, renumber ? null : m.RequestId];
        var present = optional.Select(n => n is not null && reader.Schema.Contains(n) ? n : null).ToArray();
        var projection = wanted.Concat(present.OfType<string>()).Distinct().ToList();
        // Mooncake-style prompt block hashes, when the file carries them as a LIST<INT64>.
        var hashes = reader.Schema.Contains("hash_ids") && reader.Schema["hash_ids"].IsList ? "hash_ids" : null;
        if (hashes is not null) projection.Add(hashes);
        var idCheck = present[4] is not null ? new RequestIdCheck() : null;
        var size = new FileInfo(path).Length;
        if (report is not null)
        {
            report.SourceIds = idCheck is not null;
            report.BytesTotal = size;
        }
        long nextId = 0;
        foreach (var g in reader.ReadRowGroups(projection))
        {
            var arrival = Micros(path, g, reader.Schema[m.Arrival!], relativeUnit, startMicros);
            var input = Ints(path, g, m.Input);
            var output = Ints(path, g, m.Output);
            var strings = present.Select(n => n is null ? null : Strings(path, g, n)).ToArray();
            var ids = present[4] is { } idCol ? Longs(path, g, idCol) : null;
            var hashList = hashes is not null ? HashLists(path, g, hashes) : null;
            for (var i = 0; i < g.RowCount; i++)
            {
                // A time past year 9999 is a unit mistake or damage; priced, it would stretch a run to billions of kWh.
                if (!TimeText.InCalendar(arrival[i]))
                    throw Bad(path, g, i, m.Arrival!, "a time between the years 1 and 9999 (is the column in another unit?)", $"{arrival[i].ToString(CultureInfo.InvariantCulture)} µs since 1970");
                var id = ids is null ? nextId : ids[i];
                if (idCheck is not null && !idCheck.Add(id))
                    throw Bad(path, g, i, present[4]!, RequestIdCheck.Expected, id.ToString(CultureInfo.InvariantCulture));
                nextId = id + 1;
                yield return new TraceRequest(id, arrival[i], input[i], output[i],
                    strings[0]?[i], strings[1]?[i], strings[2]?[i], strings[3]?[i],
                    hashList is null || hashList.IsNull(i) ? null : hashList[i].ToArray());
            }
            if (report is not null)
            {
                report.RowsRead += g.RowCount;
                report.Imported += g.RowCount;
                report.BytesRead = reader.RowCount > 0 ? (long)(size * ((double)(g.FirstRow + g.RowCount) / reader.RowCount)) : size;
            }
        }
    }

    private static TraceFormatException Bad(string path, RowGroupData g, int row, string column, string expected, string? found) =>
        new(path, g.FirstRow + row + 1, column, expected, found);

    private static long[] Micros(string path, RowGroupData g, ParquetColumn col, Import.TimeUnit relativeUnit, long start)
    {
        var c = g[col.Name];
        if (col.TimestampUnit is { } unit)
        {
            var v = ((ColumnData<long>)c).Values;
            if (unit == Parquet.TimeUnit.Micros && c.Validity is null && v.Length == g.RowCount) return v;
            var timestamps = new long[g.RowCount];
            for (var i = 0; i < timestamps.Length; i++)
            {
                if (c.IsNull(i)) throw Bad(path, g, i, col.Name, "an arrival time", null);
                timestamps[i] = unit switch { Parquet.TimeUnit.Millis => v[i] * 1000, Parquet.TimeUnit.Micros => v[i], _ => v[i] / 1000 };
            }
            return timestamps;
        }
        var result = new long[g.RowCount];
        var scale = relativeUnit switch { Import.TimeUnit.Seconds => 1e6, Import.TimeUnit.Milliseconds => 1e3, _ => 1.0 };
        for (var i = 0; i < result.Length; i++)
        {
            if (c.IsNull(i)) throw Bad(path, g, i, col.Name, "an arrival time", null);
            result[i] = c switch
            {
                ColumnData<long> l => start + (long)Math.Round(l.Values[i] * scale),
                ColumnData<int> n => start + (long)Math.Round(n.Values[i] * scale),
                ColumnData<double> d => start + (long)Math.Round(d.Values[i] * scale),
                ColumnData<float> f => start + (long)Math.Round(f.Values[i] * scale),
                ColumnData<string> s => TimeText.TryParseMicros(s.Values[i]!, out var t) ? t : throw Bad(path, g, i, col.Name, "a date-time", s.Values[i]),
                _ => throw Bad(path, g, i, col.Name, "a timestamp, number or date-time string", col.TypeDescription),
            };
        }
        return result;
    }

    private static int[] Ints(string path, RowGroupData g, string name)
    {
        var c = g[name];
        if (c is ColumnData<int> direct && c.Validity is null && direct.Values.Length == g.RowCount)
        {
            for (var i = 0; i < c.Count; i++)
                if (direct.Values[i] < 0) throw Bad(path, g, i, name, "a non-negative integer token count", direct.Values[i].ToString(CultureInfo.InvariantCulture));
            return direct.Values;
        }
        var result = new int[g.RowCount];
        for (var i = 0; i < result.Length; i++)
        {
            long v = c.IsNull(i) ? -1 : c switch
            {
                ColumnData<int> n => n.Values[i],
                ColumnData<long> l => l.Values[i],
                ColumnData<double> d when d.Values[i] == Math.Floor(d.Values[i]) && d.Values[i] <= int.MaxValue => (long)d.Values[i],
                _ => -1,
            };
            if (v is < 0 or > int.MaxValue) throw Bad(path, g, i, name, "a non-negative integer token count", c.GetValue(i)?.ToString());
            result[i] = (int)v;
        }
        return result;
    }

    private static long[] Longs(string path, RowGroupData g, string name)
    {
        var c = g[name];
        if (c is ColumnData<long> direct && c.Validity is null && direct.Values.Length == g.RowCount) return direct.Values;
        var result = new long[g.RowCount];
        for (var i = 0; i < result.Length; i++)
            result[i] = c.IsNull(i) ? throw Bad(path, g, i, name, "a request id", null)
                : c switch { ColumnData<long> l => l.Values[i], ColumnData<int> n => n.Values[i], _ => throw Bad(path, g, i, name, "an integer request id", c.GetValue(i)?.ToString()) };
        return result;
    }

    private static ListColumnData<long> HashLists(string path, RowGroupData g, string name)
    {
        try
        {
            var list = g.GetList<long>(name);
            for (var k = 0; k < list.Elements.Count; k++)
                if (list.Elements.IsNull(k)) throw Bad(path, g, RowOfElement(list, k), name, "a list of integer block hashes without nulls", "null");
            return list;
        }
        catch (InvalidCastException)
        {
            throw new TraceFormatException(path, g.FirstRow + 1, name, "a list of 64-bit integer block hashes", g[name].ElementType.Name);
        }
    }

    private static int RowOfElement(ListColumnData<long> list, int element)
    {
        var row = 0;
        while (row + 1 < list.Offsets.Length && list.Offsets[row + 1] <= element) row++;
        return row;
    }

    private static string?[] Strings(string path, RowGroupData g, string name)
    {
        var c = g[name];
        if (c is ColumnData<string> s) return s.Values;
        var result = new string?[g.RowCount];
        for (var i = 0; i < result.Length; i++) result[i] = c.GetValue(i)?.ToString();
        return result;
    }
}
