using Joules.Output;
using Joules.Reports;

namespace Joules.Serving.Loop;

/// <summary>
/// Writes every iteration of the loop to a Parquet table (start, engine and device time, host gap, shape, the cost
/// model's prediction): what `--iteration-log` keeps to find where a measured run and its simulation part. The file is
/// an <see cref="AtomicFile"/>: opened when the log is made (a folder or a place that cannot be written is refused
/// then, before the server listens; missing folders are created, as for every Joules output), renamed into place when
/// the server stops.
/// </summary>
public sealed class IterationLog : IIterationObserver, IDisposable
{
    private const int RowGroup = 4096;
    private readonly AtomicFile _file;
    private readonly ParquetTableWriter _writer;
    private readonly ColumnBuffer[] _c;
    private int _rows;
    private bool _done;

    public IterationLog(string path)
    {
        _c =
        [
            new("start_s", ColumnKind.Double, RowGroup), new("engine_s", ColumnKind.Double, RowGroup), new("device_s", ColumnKind.Double, RowGroup),
            new("gap_s", ColumnKind.Double, RowGroup), new("host_s", ColumnKind.Double, RowGroup),
            new("prefill_sequences", ColumnKind.Int32, RowGroup), new("prefill_tokens", ColumnKind.Int64, RowGroup),
            new("prefill_context_tokens", ColumnKind.Int64, RowGroup), new("decode_sequences", ColumnKind.Int32, RowGroup),
            new("decode_context_tokens", ColumnKind.Int64, RowGroup), new("predicted_s", ColumnKind.Double, RowGroup),
            new("predicted_j", ColumnKind.Double, RowGroup), new("preempted", ColumnKind.Int32, RowGroup), new("graph", ColumnKind.Boolean, RowGroup),
            new("decode_max_context", ColumnKind.Int32, RowGroup),
        ];
        _file = AtomicFile.Create(path);
        try
        {
            _writer = new ParquetTableWriter(_file.Stream, System.IO.Path.GetFileNameWithoutExtension(_file.Path));
            _writer.Open(_c);
        }
        catch
        {
            _file.Dispose();
            throw;
        }
    }

    /// <summary>Where the log goes (symbolic links resolved).</summary>
    public string Path => _file.Path;

    public void OnIteration(in IterationRecord r)
    {
        var i = _rows++;
        _c[0].Doubles![i] = r.StartS;
        _c[1].Doubles![i] = r.EngineS;
        _c[2].Doubles![i] = r.DeviceS;
        _c[3].Doubles![i] = r.GapS;
        _c[4].Doubles![i] = r.HostS;
        _c[5].Int32s![i] = r.Shape.PrefillSequences;
        _c[6].Int64s![i] = r.Shape.PrefillTokens;
        _c[7].Int64s![i] = r.Shape.PrefillContextTokens;
        _c[8].Int32s![i] = r.Shape.DecodeSequences;
        _c[9].Int64s![i] = r.Shape.DecodeContextTokens;
        _c[10].Doubles![i] = r.PredictedS;
        _c[11].Doubles![i] = r.PredictedJ;
        _c[12].Int32s![i] = r.Preempted;
        _c[13].Booleans![i] = r.Graph;
        _c[14].Int32s![i] = r.MaxDecodeContext;
        if (_rows == RowGroup) Flush();
    }

    private void Flush()
    {
        if (_rows > 0) _writer.WriteRowGroup(_c, _rows);
        _rows = 0;
    }

    /// <summary>Finishes the file and moves it to its name (call after the loop stopped).</summary>
    public void Complete()
    {
        if (_done) return;
        Flush();
        _writer.Complete();
        _writer.Dispose();
        _file.Commit();
        _done = true;
    }

    public void Dispose()
    {
        if (_done) return;
        _writer.Dispose();
        _file.Dispose();
        _done = true;
    }
}
