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
    long[]? HashIds = null)
{
    /// <summary>Equal when every field is, the block hashes compared element by element.</summary>
    public bool Equals(TraceRequest other) =>
        RequestId == other.RequestId && ArrivalMicros == other.ArrivalMicros && InputTokens == other.InputTokens && OutputTokens == other.OutputTokens
        && Model == other.Model && Tenant == other.Tenant && SessionId == other.SessionId && SloClass == other.SloClass
        && (ReferenceEquals(HashIds, other.HashIds) || (HashIds is not null && other.HashIds is not null && HashIds.AsSpan().SequenceEqual(other.HashIds)));

    public override int GetHashCode() => HashCode.Combine(RequestId, ArrivalMicros, InputTokens, OutputTokens, Model, Tenant, SessionId, SloClass);
}
