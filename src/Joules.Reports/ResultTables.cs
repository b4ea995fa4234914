using System.Globalization;
using System.Text;
using Joules.Simulation;

namespace Joules.Reports;

/// <summary>Element type of an output column.</summary>
public enum ColumnKind { Int32, Int64, Double, Boolean, String }

/// <summary>One column of a row group being written: a name, a type and a reusable array (only the first <c>rows</c> entries are valid).</summary>
public sealed class ColumnBuffer(string name, ColumnKind kind, int capacity)
{
    public string Name { get; } = name;
    public ColumnKind Kind { get; } = kind;
    public int[]? Int32s { get; } = kind == ColumnKind.Int32 ? new int[capacity] : null;
    public long[]? Int64s { get; } = kind == ColumnKind.Int64 ? new long[capacity] : null;
    public double[]? Doubles { get; } = kind == ColumnKind.Double ? new double[capacity] : null;
    public bool[]? Booleans { get; } = kind == ColumnKind.Boolean ? new bool[capacity] : null;
    public string?[]? Strings { get; } = kind == ColumnKind.String ? new string?[capacity] : null;

    public string Format(int row) => Kind switch
    {
        ColumnKind.Int32 => Int32s![row].ToString(CultureInfo.InvariantCulture),
        ColumnKind.Int64 => Int64s![row].ToString(CultureInfo.InvariantCulture),
        ColumnKind.Double => Doubles![row].ToString("R", CultureInfo.InvariantCulture),
        ColumnKind.String => Strings![row] ?? "",
        _ => Booleans![row] ? "true" : "false",
    };
}

/// <summary>Writes a table as Parquet (Snappy) through Joules.Parquet, one row group per buffer, with the run's provenance in its key-value metadata.</summary>
public sealed class ParquetTableWriter : ITableWriter
{
    private readonly string? _path;
    private readonly Stream? _stream;
    private readonly string _table;
    private readonly IReadOnlyDictionary<string, string>? _metadata;
    private Joules.Parquet.ParquetFileWriter? _w;

    /// <summary>Writes the file <paramref name="path"/>; the table is named after it.</summary>
    public ParquetTableWriter(string path, IReadOnlyDictionary<string, string>? metadata = null)
    {
        _path = path;
        _table = Path.GetFileNameWithoutExtension(path);
        _metadata = metadata;
    }

    /// <summary>Writes into <paramref name="stream"/> and leaves it open (an <see cref="Joules.Output.AtomicFile"/>'s, which commits it), as the table <paramref name="table"/>.</summary>
    public ParquetTableWriter(Stream stream, string table, IReadOnlyDictionary<string, string>? metadata = null)
    {
        _stream = stream;
        _table = table;
        _metadata = metadata;
    }

    public void Open(IReadOnlyList<ColumnBuffer> columns)
    {
        var schema = new Joules.Parquet.ParquetSchema(columns.Select(c => c.Kind switch
        {
            ColumnKind.Int32 => Joules.Parquet.ParquetColumn.Int32(c.Name),
            ColumnKind.Int64 => Joules.Parquet.ParquetColumn.Int64(c.Name),
            ColumnKind.Double => Joules.Parquet.ParquetColumn.Double(c.Name),
            ColumnKind.String => Joules.Parquet.ParquetColumn.String(c.Name, optional: true),
            _ => Joules.Parquet.ParquetColumn.Boolean(c.Name),
        }));
        var options = new Joules.Parquet.ParquetWriteOptions
        {
            Metadata = new Dictionary<string, string>(_metadata ?? new Dictionary<string, string>()) { ["joules.table"] = _table },
        };
        _w = _stream is null ? new Joules.Parquet.ParquetFileWriter(_path!, schema, options) : new Joules.Parquet.ParquetFileWriter(_stream, schema, options, leaveOpen: true);
    }

    public void WriteRowGroup(IReadOnlyList<ColumnBuffer> columns, int rows)
    {
        var data = new Joules.Parquet.ColumnData[columns.Count];
        for (var i = 0; i < columns.Count; i++)
        {
            var c = columns[i];
            data[i] = c.Kind switch
            {
                ColumnKind.Int32 => Joules.Parquet.ColumnData.From(c.Int32s!, null, rows),
                ColumnKind.Int64 => Joules.Parquet.ColumnData.From(c.Int64s!, null, rows),
                ColumnKind.Double => Joules.Parquet.ColumnData.From(c.Doubles!, null, rows),
                ColumnKind.String => Joules.Parquet.ColumnData.From(c.Strings!, null, rows),
                _ => Joules.Parquet.ColumnData.From(c.Booleans!, null, rows),
            };
        }
        (_w ?? throw new InvalidOperationException("Open was not called")).WriteRowGroup(data);
    }

    public void Complete() => _w?.Complete();
    public void Dispose() => _w?.Dispose();
}

/// <summary>
/// Where flat output tables go, one row group at a time. The simulator's outputs (requests, power)
/// are written only through this, so the file format is one class: <see cref="CsvTableWriter"/>
/// today, a Parquet writer once Joules.Parquet can write.
/// </summary>
public interface ITableWriter : IDisposable
{
    /// <summary>Declares the columns (called once, before any row group).</summary>
    void Open(IReadOnlyList<ColumnBuffer> columns);

    /// <summary>Writes the first <paramref name="rows"/> rows of the buffers as one row group.</summary>
    void WriteRowGroup(IReadOnlyList<ColumnBuffer> columns, int rows);

    /// <summary>Finishes the file (footer); the writer is unusable afterwards.</summary>
    void Complete();
}

/// <summary>Writes a table as CSV with a header row.</summary>
public sealed class CsvTableWriter(string path) : ITableWriter
{
    private readonly StreamWriter _w = new(path, false, new UTF8Encoding(false), 1 << 16);
    public void Open(IReadOnlyList<ColumnBuffer> columns) => _w.WriteLine(string.Join(',', columns.Select(c => c.Name)));

    public void WriteRowGroup(IReadOnlyList<ColumnBuffer> columns, int rows)
    {
        for (var r = 0; r < rows; r++)
        {
            for (var c = 0; c < columns.Count; c++)
            {
                if (c > 0) _w.Write(',');
                _w.Write(columns[c].Format(r));
            }
            _w.WriteLine();
        }
    }

    public void Complete() => _w.Flush();
    public void Dispose() => _w.Dispose();
}

/// <summary>Picks the table format for an output file name.</summary>
public static class TableWriters
{
    /// <summary>Given a path without extension, creates a writer for it plus the extension of the format in use; returns the writer and the full path.</summary>
    public static Func<string, (ITableWriter Writer, string Path)> Factory { get; set; } = stem => (new ParquetTableWriter(stem + ".parquet"), stem + ".parquet");

    /// <summary>CSV instead of Parquet.</summary>
    public static (ITableWriter Writer, string Path) Csv(string stem) => (new CsvTableWriter(stem + ".csv"), stem + ".csv");
}

/// <summary>Streams per-request results and power samples into two tables (requests, power) in row groups of bounded size.</summary>
public sealed class TableSink : ISimulationSink, IDisposable
{
    private const int RowGroup = 1 << 16;
    private readonly ITableWriter? _requests;
    private readonly ITableWriter? _power;
    private readonly ColumnBuffer[] _rq;
    private readonly ColumnBuffer[] _pw;
    private int _rqRows;
    private int _pwRows;

    public TableSink(ITableWriter? requests, ITableWriter? power)
    {
        _requests = requests;
        _power = power;
        _rq =
        [
            new("request_id", ColumnKind.Int64, RowGroup), new("instance", ColumnKind.Int32, RowGroup),
            new("arrival_s", ColumnKind.Double, RowGroup), new("queue_s", ColumnKind.Double, RowGroup),
            new("ttft_s", ColumnKind.Double, RowGroup), new("tpot_s", ColumnKind.Double, RowGroup),
            new("e2e_s", ColumnKind.Double, RowGroup), new("input_tokens", ColumnKind.Int32, RowGroup),
            new("output_tokens", ColumnKind.Int32, RowGroup), new("preemptions", ColumnKind.Int32, RowGroup),
            new("energy_j", ColumnKind.Double, RowGroup), new("rejected", ColumnKind.Boolean, RowGroup),
            new("reject_reason", ColumnKind.String, RowGroup), new("cached_prompt_tokens", ColumnKind.Int32, RowGroup),
            new("first_token_s", ColumnKind.Double, RowGroup), new("done_s", ColumnKind.Double, RowGroup),
        ];
        _pw =
        [
            new("instance", ColumnKind.Int32, RowGroup), new("start_s", ColumnKind.Double, RowGroup),
            new("end_s", ColumnKind.Double, RowGroup), new("watts", ColumnKind.Double, RowGroup),
            new("energy_j", ColumnKind.Double, RowGroup), new("busy_fraction", ColumnKind.Double, RowGroup),
            new("parked_fraction", ColumnKind.Double, RowGroup), new("waking_fraction", ColumnKind.Double, RowGroup),
        ];
        _requests?.Open(_rq);
        _power?.Open(_pw);
    }

    public bool WantsPower => _power != null;

    public void OnRequest(in RequestResult r)
    {
        if (_requests == null) return;
        var i = _rqRows++;
        _rq[0].Int64s![i] = r.RequestId;
        _rq[1].Int32s![i] = r.Instance;
        _rq[2].Doubles![i] = r.ArrivalS;
        _rq[3].Doubles![i] = r.Rejected ? double.NaN : r.QueueS;
        _rq[4].Doubles![i] = r.Rejected ? double.NaN : r.TtftS;
        _rq[5].Doubles![i] = r.Rejected ? double.NaN : r.TpotS;
        _rq[6].Doubles![i] = r.Rejected ? double.NaN : r.E2eS;
        _rq[7].Int32s![i] = r.InputTokens;
        _rq[8].Int32s![i] = r.OutputTokens;
        _rq[9].Int32s![i] = r.Preemptions;
        _rq[10].Doubles![i] = r.EnergyJ;
        _rq[11].Booleans![i] = r.Rejected;
        _rq[12].Strings![i] = r.Rejected ? RejectReasons.Name(r.Reason) : null;
        _rq[13].Int32s![i] = r.CachedPromptTokens;
        _rq[14].Doubles![i] = r.Rejected ? double.NaN : r.FirstTokenS;
        _rq[15].Doubles![i] = r.Rejected ? double.NaN : r.DoneS;
        if (_rqRows == RowGroup) { _requests.WriteRowGroup(_rq, _rqRows); _rqRows = 0; }
    }

    public void OnPower(in PowerSample p)
    {
        if (_power == null) return;
        var i = _pwRows++;
        _pw[0].Int32s![i] = p.Instance;
        _pw[1].Doubles![i] = p.StartS;
        _pw[2].Doubles![i] = p.EndS;
        _pw[3].Doubles![i] = p.Watts;
        _pw[4].Doubles![i] = p.Joules;
        var width = p.EndS - p.StartS;
        _pw[5].Doubles![i] = width > 0 ? p.BusySeconds / width : 0;
        _pw[6].Doubles![i] = width > 0 ? p.ParkedSeconds / width : 0;
        _pw[7].Doubles![i] = width > 0 ? p.WakingSeconds / width : 0;
        if (_pwRows == RowGroup) { _power.WriteRowGroup(_pw, _pwRows); _pwRows = 0; }
    }

    /// <summary>Flushes the last row groups and completes both files.</summary>
    public void Complete()
    {
        if (_requests != null)
        {
            if (_rqRows > 0) _requests.WriteRowGroup(_rq, _rqRows);
            _rqRows = 0;
            _requests.Complete();
        }
        if (_power != null)
        {
            if (_pwRows > 0) _power.WriteRowGroup(_pw, _pwRows);
            _pwRows = 0;
            _power.Complete();
        }
    }

    public void Dispose()
    {
        _requests?.Dispose();
        _power?.Dispose();
    }
}
