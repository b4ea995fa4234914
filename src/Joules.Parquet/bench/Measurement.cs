using System.Diagnostics;
using System.Text.Json;

namespace Joules.Parquet.Bench;

/// <summary>What one measuring process found: times of each pass and memory above the caller's data.</summary>
public sealed record MeasureResult(string Library, string Op, string Dataset, string Codec, int Rows, double ColdSeconds, double BestSeconds, double BestCpuSeconds,
    long OverheadBytes, long DataBytes, long BaselineBytes, long PeakBytes, long FileBytes, long Checksum, bool PeakReset);

/// <summary>Runs one library on one operation in this process: prepares the caller's data, settles memory, then times the passes and takes the peak above the data.</summary>
public static class Measurement
{
    public static MeasureResult Run(IBenchLibrary lib, string op, Dataset dataset, string codec, string file, int rows, int passes)
    {
        BenchTable table;
        string? output = null;
        if (op == "read")
        {
            using (var probe = ParquetFileReader.Open(file)) rows = checked((int)probe.RowCount);
            table = dataset.Allocate(rows, lib.NullableShape);
            Touch(table);
        }
        else if (op == "write")
        {
            table = dataset.Generate(rows / dataset.RowsDivisor);
            if (lib.NullableShape) table = table.ToNullable();
            output = Path.Combine(Path.GetDirectoryName(file)!, $"out-{lib.Name}-{dataset.Name}-{codec}-{Environment.ProcessId}.parquet");
        }
        else throw new ArgumentException($"unknown operation '{op}' (read, write)");

        Memory.Settle();
        long dataBefore = table.DecodedBytes();
        long baseline = Memory.ResidentBytes;
        bool reset = Memory.ResetPeak();
        double cold = 0, best = double.MaxValue, bestCpu = double.MaxValue;
        var self = Process.GetCurrentProcess();
        for (int p = 0; p < passes; p++)
        {
            self.Refresh();
            var cpu0 = self.TotalProcessorTime;
            var sw = Stopwatch.StartNew();
            if (output != null) lib.Write(output, dataset, table, codec, dataset.RowGroupRows);
            else lib.Read(file, table);
            sw.Stop();
            self.Refresh();
            double cpu = (self.TotalProcessorTime - cpu0).TotalSeconds;
            if (p == 0) cold = sw.Elapsed.TotalSeconds;
            if (p > 0 || passes == 1)
            {
                best = Math.Min(best, sw.Elapsed.TotalSeconds);
                bestCpu = Math.Min(bestCpu, cpu);
            }
        }
        long peak = Memory.PeakResidentBytes;
        // What reading added to the caller's data (string objects, list values) is decoded data, not overhead.
        long grown = Math.Max(0, table.DecodedBytes() - dataBefore);
        long fileBytes = new FileInfo(output ?? file).Length;
        long checksum = output != null ? ReadBackChecksum(output, dataset) : table.Checksum();
        if (output != null) File.Delete(output);
        GC.KeepAlive(table);
        return new MeasureResult(lib.Name, op, dataset.Name, codec, table.Rows, cold, best, bestCpu, peak - baseline - grown, table.ArrayBytes + grown, baseline, peak, fileBytes, checksum, reset);
    }

    /// <summary>Writes every page of the caller's arrays so they are resident before the baseline is taken.</summary>
    private static void Touch(BenchTable t)
    {
        foreach (var c in t.Columns)
        {
            c.Longs?.AsSpan().Fill(1); c.Ints?.AsSpan().Fill(1); c.Doubles?.AsSpan().Fill(1); c.Strings?.AsSpan().Fill("");
            c.Validity?.AsSpan().Fill(true); c.Offsets?.AsSpan().Fill(0);
            c.NullableLongs?.AsSpan().Fill(1); c.NullableInts?.AsSpan().Fill(1); c.NullableDoubles?.AsSpan().Fill(1); c.Jagged?.AsSpan().Fill(null);
        }
    }

    /// <summary>Checks what a write produced by reading it back with our reader (the same for both libraries).</summary>
    private static long ReadBackChecksum(string path, Dataset dataset)
    {
        int rows;
        using (var r = ParquetFileReader.Open(path)) rows = checked((int)r.RowCount);
        var t = dataset.Allocate(rows);
        new OursLibrary().Read(path, t);
        return t.Checksum();
    }

    public static string ToJson(MeasureResult r) => JsonSerializer.Serialize(r);
    public static MeasureResult FromJson(string line) => JsonSerializer.Deserialize<MeasureResult>(line) ?? throw new InvalidDataException("empty measurement");
}
