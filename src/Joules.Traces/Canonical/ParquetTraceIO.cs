namespace Joules.Traces.Canonical;

/// <summary>Canonical trace rows to Parquet (DESIGN.md schema); the only place that touches the Parquet library on the write side.</summary>
internal sealed class ParquetTraceWriter : CanonicalTraceWriter
{
    public ParquetTraceWriter(string path) : base(path) =>
        throw new NotSupportedException($"{path}: writing Parquet is not available in this build yet (Joules.Parquet pending); write .csv instead");

    protected override void WriteRow(in TraceRequest r) { }
    public override void Complete() { }
    public override void Dispose() { }
}
