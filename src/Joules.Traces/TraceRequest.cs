namespace Joules.Traces;

/// <summary>One request of a canonical trace (DESIGN.md "Trace"): when it arrived and how many tokens it reads and writes.</summary>
/// <param name="RequestId">Unique id within the trace.</param>
/// <param name="ArrivalMicros">Arrival time, microseconds since the Unix epoch, UTC (Parquet TIMESTAMP(MICROS, UTC)).</param>
/// <param name="InputTokens">Prompt tokens.</param>
/// <param name="OutputTokens">Generated tokens.</param>
/// <param name="Model">Optional model name the request asked for.</param>
/// <param name="Tenant">Optional tenant or customer.</param>
/// <param name="SessionId">Optional conversation or session id.</param>
/// <param name="SloClass">Optional service-level class (for example "interactive" or "batch").</param>
/// <param name="HashIds">Optional block hashes of the prompt (Mooncake's <c>hash_ids</c>: one per block of tokens, equal ids meaning an equal prefix), for prefix caching.</param>
public readonly record struct TraceRequest(
    long RequestId,
    long ArrivalMicros,
    int InputTokens,
    int OutputTokens,
    string? Model = null,
    string? Tenant = null,
    string? SessionId = null,
    string? SloClass = null,
    long[]? HashIds = null);
