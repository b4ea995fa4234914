namespace Joules.Traces.Import;

/// <summary>The source layouts Joules can import; <see cref="Auto"/> sniffs the file's header or first record.</summary>
public enum TraceFormat
{
    /// <summary>Pick from the file: Parquet magic bytes, JSONL keys or CSV header names.</summary>
    Auto,
    /// <summary>Joules's canonical trace (Parquet, or CSV with the same column names).</summary>
    Canonical,
    /// <summary>Azure LLM inference trace CSV: 2023 (`TIMESTAMP,ContextTokens,GeneratedTokens`, no zone), 2024 (`+00:00` zone), 2025 multimodal (`NumImages`).</summary>
    Azure,
    /// <summary>BurstGPT CSV: `Timestamp` seconds from trace start, `Model`, `Request tokens`, `Response tokens`, `Total tokens`, `Log Type`, optionally `Session ID`, `Elapsed time`.</summary>
    BurstGpt,
    /// <summary>Mooncake JSONL: `timestamp` ms from trace start, `input_length`, `output_length`, `hash_ids`.</summary>
    Mooncake,
    /// <summary>Vidur CSV: `arrived_at` seconds from start, `num_prefill_tokens`, `num_decode_tokens`.</summary>
    Vidur,
    /// <summary>A CSV of input and output lengths with no times; arrivals are generated at a given rate.</summary>
    LengthOnly,
    /// <summary>Any CSV, JSONL or Parquet whose columns are named by an explicit mapping.</summary>
    Mapped,
}
