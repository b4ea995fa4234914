using Joules.Traces.Import;

namespace Joules.Traces.Canonical;

/// <summary>Streams a canonical trace (Parquet, or canonical CSV) in file order with bounded memory, checking that arrivals are sorted.</summary>
public static class CanonicalTraceReader
{
    /// <summary>Reads a canonical trace; <paramref name="map"/> names the columns of a non-canonical Parquet file.</summary>
    /// <remarks>This is the call the simulator uses to stream a trace: rows come one row group at a time.</remarks>
    public static IEnumerable<TraceRequest> Read(string path, ColumnMap? map = null)
    {
        var source = TraceFile.Sniff(path) == TraceFile.Container.Parquet
            ? ParquetRows(path, map)
            : TraceFile.ReadUnsorted(path, new TraceImportOptions { Format = map is null ? TraceFormat.Canonical : TraceFormat.Mapped, Map = map }, new ImportReport { File = path });
        return Sorted(path, source);
    }

    private static IEnumerable<TraceRequest> Sorted(string path, IEnumerable<TraceRequest> source)
    {
        var prev = long.MinValue;
        long row = 0;
        foreach (var r in source)
        {
            row++;
            if (r.ArrivalMicros < prev)
                throw new InvalidDataException($"{path}: row {row} arrives before row {row - 1}; canonical traces are sorted by arrival (run `joules trace import` on it to sort)");
            prev = r.ArrivalMicros;
            yield return r;
        }
    }

    private static IEnumerable<TraceRequest> ParquetRows(string path, ColumnMap? map) =>
        ParquetTraceReader.Read(path, map, Import.TimeUnit.Seconds, 0);
}
