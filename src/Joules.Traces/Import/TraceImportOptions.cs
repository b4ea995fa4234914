namespace Joules.Traces.Import;

/// <summary>How to read a source trace: its layout, column mapping, and what to do with bad or failed rows.</summary>
public sealed record TraceImportOptions
{
    public TraceFormat Format { get; init; } = TraceFormat.Auto;
    /// <summary>Explicit column mapping; implies <see cref="TraceFormat.Mapped"/> when the format is Auto.</summary>
    public ColumnMap? Map { get; init; }
    /// <summary>Skip rows that cannot be read (counted by reason in the report) instead of failing on the first.</summary>
    public bool SkipInvalid { get; init; }
    /// <summary>Drop BurstGPT failed requests (zero response tokens); they are counted either way.</summary>
    public bool DropFailed { get; init; }
    /// <summary>Mean arrival rate (requests/s) for files with no times: arrivals are a seeded Poisson process.</summary>
    public double? Rate { get; init; }
    /// <summary>Seed for generated arrivals of length-only files.</summary>
    public int Seed { get; init; } = 1;
    /// <summary>Unit of numeric arrival columns in mapped files (known layouts carry their own).</summary>
    public TimeUnit? TimeUnit { get; init; }
    /// <summary>Absolute time (µs since the Unix epoch) that relative arrival times (BurstGPT, Mooncake, Vidur, length-only) count from.</summary>
    public long StartMicros { get; init; }
    /// <summary>Number requests 0..N-1 in arrival order instead of keeping the source's ids (which must otherwise be unique).</summary>
    public bool Renumber { get; init; }
}
