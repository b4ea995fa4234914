using Joules.Reports;

namespace Joules.Serving.Loop;

/// <summary>
/// Writes every iteration of the loop to a Parquet table (start, engine and device time, host gap, shape, the cost
/// model's prediction): what `--iteration-log` keeps to find where a measured run and its simulation part. The file is
/// written beside its final name and renamed into place when the server stops.
/// </summary>
public sealed class IterationLog : IIterationObserver, IDisposable
{
    private const int RowGroup = 4096;
    private readonly string _path;
    private readonly string _temp;
    private readonly ParquetTableWriter _writer;
    private readonly ColumnBuffer[] _c;
    private int _rows;
    private bool _done;

    public IterationLog(string path)
    {
        _path = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(_path)!);
        _temp = Path.Combine(Path.GetDirectoryName(_path)!, $".{Path.GetFileName(_path)}.joules-partial-{Environment.ProcessId}");
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
        _writer = new ParquetTableWriter(_temp);
        _writer.Open(_c);
    }

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
        File.Move(_temp, _path, overwrite: true);
        _done = true;
    }

    public void Dispose()
    {
        if (_done) return;
        _writer.Dispose();
        try { File.Delete(_temp); } catch (IOException) { }
        _done = true;
    }
}
