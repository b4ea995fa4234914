namespace Joules.Traces.Import;

/// <summary>What an import did with every source row, so nothing is dropped silently: read, kept, skipped by reason, failed requests, warnings.</summary>
public sealed class ImportReport
{
    private readonly Dictionary<string, long> _skipped = new(StringComparer.Ordinal);

    public string File { get; init; } = "";
    public TraceFormat Format { get; set; }
    /// <summary>Data rows read from the source (excluding the header).</summary>
    public long RowsRead { get; set; }
    /// <summary>Requests produced.</summary>
    public long Imported { get; set; }
    /// <summary>BurstGPT failed requests (zero response tokens) seen, whether kept or dropped.</summary>
    public long FailedRequests { get; set; }
    public bool FailedDropped { get; set; }
    /// <summary>Azure 2025 multimodal requests that carried images (the canonical schema has no image field).</summary>
    public long RequestsWithImages { get; set; }
    /// <summary>Arrivals that were earlier than the one before them in the source; nonzero means the output was sorted.</summary>
    public long OutOfOrder { get; set; }
    /// <summary>Requests with 0 output tokens (kept; the simulator generates max(1, n) tokens for them).</summary>
    public long ZeroOutputTokens { get; set; }
    /// <summary>Requests with 0 input tokens (kept; the simulator prefills max(1, n) tokens for them).</summary>
    public long ZeroInputTokens { get; set; }
    /// <summary>Whether the requests carry the source's own ids (an id column, not --renumber); they were checked to be unique.</summary>
    public bool SourceIds { get; set; }
    /// <summary>Size of the source file, and how far into it reading has got (for progress; updated while reading).</summary>
    public long BytesTotal { get; set; }
    public long BytesRead { get; set; }
    public List<string> Warnings { get; } = [];
    /// <summary>The optional canonical columns the source's layout can fill (known once its header has been read).</summary>
    public Canonical.OptionalColumns Columns { get; set; } = Canonical.OptionalColumns.All;
    /// <summary>First few skipped rows with their location, for the user to look at.</summary>
    public List<string> SkippedExamples { get; } = [];

    public IReadOnlyDictionary<string, long> SkippedByReason => _skipped;
    public long Skipped => _skipped.Values.Sum();

    internal void Skip(TraceFormatException e)
    {
        _skipped[e.Reason] = _skipped.GetValueOrDefault(e.Reason) + 1;
        if (SkippedExamples.Count < 5) SkippedExamples.Add(e.Message);
    }

    /// <summary>One line per fact, for printing after an import.</summary>
    public IEnumerable<string> Lines()
    {
        yield return $"{File}: format {Format}, {RowsRead:N0} rows read, {Imported:N0} requests imported";
        if (Skipped > 0)
        {
            yield return $"skipped {Skipped:N0} invalid rows:";
            foreach (var (reason, n) in _skipped.OrderByDescending(kv => kv.Value)) yield return $"  {n:N0} × {reason}";
            foreach (var ex in SkippedExamples) yield return $"  e.g. {ex}";
        }
        if (FailedRequests > 0)
            yield return $"{FailedRequests:N0} failed requests (0 response tokens) {(FailedDropped ? "dropped (--drop-failed)" : "kept (use --drop-failed to drop them)")}";
        if (RequestsWithImages > 0)
            yield return $"{RequestsWithImages:N0} requests carried images (NumImages > 0); image tokens are not in the canonical schema, text tokens kept";
        if (ZeroOutputTokens > 0)
            yield return $"warning: {ZeroOutputTokens:N0} {(ZeroOutputTokens == 1 ? "request has" : "requests have")} 0 output tokens; the simulator generates 1 token for each (it uses max(1, n) output tokens)";
        if (ZeroInputTokens > 0)
            yield return $"warning: {ZeroInputTokens:N0} {(ZeroInputTokens == 1 ? "request has" : "requests have")} 0 input tokens; the simulator prefills 1 token for each (it uses max(1, n) input tokens)";
        foreach (var w in Warnings) yield return $"warning: {w}";
    }
}
